"""The portal simulator's settings: its faults (simulators/faults.py) and the dialect it speaks."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from simulators.faults import FaultSettings


class SimulatorSettings(BaseSettings, FaultSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_SIM_", extra="ignore")

    username: str = "motcua-h44"
    password: str = "demo-only"
    session_seconds: float = 600.0
    # The dialect's settings (docs/portal.md): the destination code, the two paths, and the
    # province's dossier-code pattern that MaHoSo must follow.
    dstcode: str = "000.00.00.H44"
    auth_path: str = "/api/session"
    service_path: str = "/api/integration"
    dossier_code_pattern: str = r"^\d{3}\.\d{2}\.\d{2}\.H\d{2}-\d{6}-\d{4,6}$"
