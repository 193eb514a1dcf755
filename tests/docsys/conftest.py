"""Throwaway certificates for the edXML signature tests (made once per run, never committed)."""

from __future__ import annotations

import pytest

from services.sync.documents.signing import (
    SigningKey,
    Verifier,
    load_signing_key,
    make_authority,
    make_signer,
    provision,
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> dict:
    """A trusted authority with two signers (this system, the document system), and a stranger
    whose certificate comes from another authority."""
    paths = provision(tmp_path_factory.mktemp("pki"))
    return {
        "province": load_signing_key(paths["province_key"], paths["province_cert"]),
        "docsys": load_signing_key(paths["docsys_key"], paths["docsys_cert"]),
        "stranger": make_signer(make_authority("Another CA"), "Người lạ"),
        "verifier": Verifier(paths["trust_store"]),
        "paths": paths,
    }


@pytest.fixture
def docsys_key(pki) -> SigningKey:
    return pki["docsys"]


@pytest.fixture
def verifier(pki) -> Verifier:
    return pki["verifier"]
