"""XML-DSig for edXML envelopes: enveloped RSA-SHA256 signatures, made and verified with signxml.

Outgoing envelopes are signed with the sender's key and certificate (PEM files, or one PKCS#12
file). Incoming ones are verified against a trust store (a PEM file of the certificates of the
certificate authorities whose signers we accept): the signature must cover the whole document
(Reference URI=""), use RSA with SHA-256, and come from a certificate that chains to the store.
Canonicalization and digests are signxml's, never hand-written.

`provision()` makes a throwaway certificate authority and two signers (this system and the
document-management system) for tests and the demo; nothing it makes is ever committed.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
    methods,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

DSIG = "http://www.w3.org/2000/09/xmldsig#"


class SignatureRefused(ValueError):
    """An envelope whose signature is missing, broken or not trusted; the message says which."""


@dataclass(frozen=True)
class SigningKey:
    """A private key and its certificate (with any intermediates), ready to sign envelopes."""

    key: rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def subject(self) -> str:
        return self.chain[0].subject.rfc4514_string()

    def sign(self, root: etree._Element) -> etree._Element:
        """The document signed in place of its <ds:Signature Id="placeholder"/> element."""
        signer = XMLSigner(
            method=methods.enveloped,
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
        )
        return signer.sign(root, key=self.key, cert=list(self.chain))


def load_signing_key(
    key_path: str | Path, cert_path: str | Path | None = None, password: str | None = None
) -> SigningKey:
    """From a PKCS#12 file (.p12/.pfx: key and certificates together) or a PEM key and a PEM
    certificate file (the signer's certificate first, then any intermediates)."""
    secret = password.encode() if password else None
    raw = Path(key_path).read_bytes()
    if Path(key_path).suffix.lower() in (".p12", ".pfx"):
        key, cert, extra = pkcs12.load_key_and_certificates(raw, secret)
        if key is None or cert is None:
            raise ValueError(f"{key_path}: a PKCS#12 file with a key and its certificate is needed")
        chain = (cert, *extra)
    else:
        if cert_path is None:
            raise ValueError("a PEM key needs its certificate file too")
        key = serialization.load_pem_private_key(raw, secret)
        chain = tuple(x509.load_pem_x509_certificates(Path(cert_path).read_bytes()))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{key_path}: an RSA key is needed (RSA-SHA256 signatures)")
    return SigningKey(key, chain)


class Verifier:
    """Checks an envelope's enveloped XML-DSig signature against a trust store."""

    CONFIG = SignatureConfiguration(
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        require_x509=True,
    )

    def __init__(self, trust_store: str | Path):
        self.trust_store = str(trust_store)
        x509.load_pem_x509_certificates(Path(trust_store).read_bytes())  # fail at start-up, not per message

    def verify(self, raw: bytes) -> tuple[etree._Element, str]:
        """(the signed document without its signature, the signer's certificate subject);
        SignatureRefused says why not. Only what the signature covers comes back, so nothing
        unsigned can be slipped in beside it."""
        try:
            result = XMLVerifier().verify(raw, ca_pem_file=self.trust_store, expect_config=self.CONFIG)
        except InvalidCertificate as exc:
            raise SignatureRefused(
                f"untrusted signer: the certificate does not chain to the trust store ({exc})"
            ) from exc
        except InvalidDigest as exc:
            raise SignatureRefused(f"tampered: the content does not match its signed digest ({exc})") from exc
        except InvalidSignature as exc:
            raise SignatureRefused(f"bad signature: {exc}") from exc
        except InvalidInput as exc:
            raise SignatureRefused(f"bad signature: {exc}") from exc
        if isinstance(result, list):
            raise SignatureRefused("bad signature: exactly one signature is expected")
        if not isinstance(result.signed_xml, etree._Element):
            raise SignatureRefused('bad signature: it must cover the whole document (Reference URI="")')
        return result.signed_xml, _signer_subject(result.signature_xml, result.signature_key)


def _signer_subject(signature: etree._Element, public_key_pem: bytes) -> str:
    """The subject of the certificate in KeyInfo whose key made the signature."""
    for element in signature.iter(f"{{{DSIG}}}X509Certificate"):
        cert = x509.load_der_x509_certificate(base64.b64decode(element.text or ""))
        pem = cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if pem == public_key_pem:
            return cert.subject.rfc4514_string()
    return "(unknown subject)"


# Throwaway certificates for tests and the demo.


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tỉnh Phú Thọ (demo)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_authority(common_name: str = "Demo CA (throwaway)") -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key, now = _key(), dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_signer(authority: tuple[rsa.RSAPrivateKey, x509.Certificate], common_name: str) -> SigningKey:
    ca_key, ca_cert = authority
    key, now = _key(), dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return SigningKey(key, (cert,))


def write_pem(signer: SigningKey, key_path: Path, cert_path: Path) -> None:
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.write_bytes(
        signer.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in signer.chain))


SIGNERS = {
    "province": "Hệ thống giải quyết TTHC tỉnh Phú Thọ (demo)",
    "docsys": "Hệ thống quản lý văn bản tỉnh Phú Thọ (demo)",
}


def _valid_for_a_day(cert_path: Path) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def provision(directory: Path) -> dict[str, Path]:
    """A throwaway authority and one signer per SIGNERS entry in `directory` (made once, then
    reused while valid): trust.pem (the authority's certificate), <name>.key and <name>.pem."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"trust_store": directory / "trust.pem"}
    for name in SIGNERS:
        paths[f"{name}_key"], paths[f"{name}_cert"] = directory / f"{name}.key", directory / f"{name}.pem"
    if all(p.exists() for p in paths.values()) and _valid_for_a_day(paths["province_cert"]):
        return paths
    authority = make_authority()
    for name, common_name in SIGNERS.items():
        write_pem(make_signer(authority, common_name), paths[f"{name}_key"], paths[f"{name}_cert"])
    paths["trust_store"].write_bytes(authority[1].public_bytes(serialization.Encoding.PEM))
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Make a throwaway CA and edXML signers (tests, demo).")
    parser.add_argument("directory", type=Path)
    for label, path in provision(parser.parse_args().directory).items():
        print(f"{label}: {path}")
