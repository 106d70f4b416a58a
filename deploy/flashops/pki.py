"""The mesh's certificate authority: a CA, short-lived SPIFFE certificates, the edge's TLS cert.

Run through ``bin/mesh-certs`` (see ``bin/mesh-certs --help`` and docs/edge-and-mesh.md).
Everything is written under one directory (``$VAR_DIR/mesh`` locally)::

    ca/ca.pem, ca/ca.key           the mesh CA (kept for ``CA_DAYS``; the key never leaves here)
    trust.pem                      the CA bundle every sidecar trusts (one or more CAs)
    sds/<service>.yaml             Envoy SDS resource: that service's certificate and key
    sds/mesh-ca.yaml               Envoy SDS resource: the trust bundle (validation context)
    <service>/cert.pem, key.pem    the same certificate as PEM files, for tools and tests
    edge/cert.pem, key.pem, ca.pem the edge's local TLS certificate (its own CA, not the mesh's)

Envoy reads the ``sds/*.yaml`` files as file-based SDS and reloads a secret when its file is
replaced by an atomic rename, which is how :func:`issue` writes them: rotation swaps the
certificate under live traffic without a restart and without dropping a connection.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = os.environ.get("MESH_TRUST_DOMAIN", "flashsale.local")
NAMESPACE = "default"
MESH_SERVICES = ("order", "fulfillment")
DEFAULT_TTL = int(os.environ.get("MESH_CERT_TTL", "3600"))  # seconds: short-lived on purpose
CA_DAYS = 30
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"  # noqa: S105
CA_SECRET = "mesh-ca"  # noqa: S105 - an SDS resource name


def spiffe_id(service: str, *, trust_domain: str = TRUST_DOMAIN) -> str:
    """The SPIFFE identity a service's certificate carries (and RBAC matches on)."""
    return f"spiffe://{trust_domain}/ns/{NAMESPACE}/sa/{service}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write then rename: a reader (Envoy, NGINX) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _ca_certificate(name: str, key: ec.EllipticCurvePrivateKey, days: int) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf(
    *,
    common_name: str,
    sans: list[x509.GeneralName],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    ttl: int,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A minute of slack for clocks that disagree a little.
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(seconds=ttl))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


# --- the mesh CA ------------------------------------------------------------------------


def ca_ensure(*, directory: Path, name: str = "flashsale mesh CA", days: int = CA_DAYS) -> bool:
    """Create the CA and the trust bundle unless they exist. True when it created them."""
    ca_dir = directory / "ca"
    if (ca_dir / "ca.pem").exists() and (ca_dir / "ca.key").exists():
        return False
    if (directory / "trust.pem").exists():
        # A mesh already exists (a CA rotation may be between its two renames): never mint
        # a CA nobody trusts.
        return False
    key = _key()
    cert = _ca_certificate(name, key, days)
    _write_atomic(ca_dir / "ca.key", _key_pem(key), mode=0o600)
    _write_atomic(ca_dir / "ca.pem", _cert_pem(cert))
    trust_write(directory=directory, pems=[_cert_pem(cert)])
    return True


def _ca_load(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_dir = directory / "ca"
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_dir / 'ca.key'} is not the EC key this CA writes")
    return cert, key


def trust_write(*, directory: Path, pems: list[bytes]) -> None:
    """Write the trust bundle and its SDS resource (several CAs while a CA is rotated)."""
    bundle = b"".join(pems)
    _write_atomic(directory / "trust.pem", bundle)
    resource = {
        "resources": [
            {
                "@type": SECRET_TYPE,
                "name": CA_SECRET,
                "validation_context": {"trusted_ca": {"inline_string": bundle.decode()}},
            }
        ]
    }
    # JSON is YAML: Envoy's file-based SDS reads either.
    _write_atomic(directory / "sds" / f"{CA_SECRET}.yaml", json.dumps(resource, indent=1).encode())


def ca_rotate(*, directory: Path, phase: str, ttl: int = DEFAULT_TTL) -> str:
    """Replace the mesh CA without a failed handshake, in three phases (run them in order,
    letting the sidecars pick up each step):

    ``begin``  a new CA in ``ca-next/``; the trust bundle holds old and new, so certificates
               from either are accepted everywhere.
    ``switch`` the new CA becomes ``ca/`` (the old one moves to ``ca-old/``) and every
               service certificate is re-issued from it.
    ``finish`` the trust bundle holds only the new CA; ``ca-old/`` is deleted.
    """
    ca_dir, next_dir, old_dir = directory / "ca", directory / "ca-next", directory / "ca-old"
    if phase == "begin":
        if next_dir.exists():
            raise RuntimeError(f"{next_dir} exists: a rotation is under way (run switch)")
        key = _key()
        cert = _ca_certificate(f"flashsale mesh CA {_now():%Y%m%d%H%M%S}", key, CA_DAYS)
        _write_atomic(next_dir / "ca.key", _key_pem(key), mode=0o600)
        _write_atomic(next_dir / "ca.pem", _cert_pem(cert))
        trust_write(
            directory=directory,
            pems=[(ca_dir / "ca.pem").read_bytes(), (next_dir / "ca.pem").read_bytes()],
        )
        return "trust bundle: old + new CA"
    if phase == "switch":
        if not next_dir.exists():
            raise RuntimeError("no new CA: run `ca-rotate begin` first")
        if old_dir.exists():
            shutil.rmtree(old_dir)
        os.replace(ca_dir, old_dir)
        os.replace(next_dir, ca_dir)
        services = [s.parent.name for s in sorted(directory.glob("*/cert.pem"))]
        services = [s for s in services if s not in ("edge",)]
        for service in services:
            issue(directory=directory, service=service, ttl=ttl)
        return f"new CA in use; re-issued {', '.join(services)}"
    if phase == "finish":
        trust_write(directory=directory, pems=[(ca_dir / "ca.pem").read_bytes()])
        shutil.rmtree(old_dir, ignore_errors=True)
        return "trust bundle: new CA only"
    raise ValueError(f"unknown phase {phase!r} (begin, switch, finish)")


# --- service certificates ---------------------------------------------------------------


def issue(*, directory: Path, service: str, ttl: int = DEFAULT_TTL) -> x509.Certificate:
    """Issue ``service`` a fresh key and certificate and publish them for its sidecar."""
    ca_cert, ca_key = _ca_load(directory)
    sans: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(spiffe_id(service)),
        x509.DNSName(f"{service}.mesh.local"),
    ]
    cert, key = _leaf(common_name=service, sans=sans, ca_cert=ca_cert, ca_key=ca_key, ttl=ttl)
    out = directory / service
    _write_atomic(out / "key.pem", _key_pem(key), mode=0o600)
    _write_atomic(out / "cert.pem", _cert_pem(cert))
    resource = {
        "resources": [
            {
                "@type": SECRET_TYPE,
                "name": service,
                "tls_certificate": {
                    "certificate_chain": {"inline_string": _cert_pem(cert).decode()},
                    "private_key": {"inline_string": _key_pem(key).decode()},
                },
            }
        ]
    }
    # Last, by atomic rename: the moment Envoy sees it, the key and certificate agree.
    _write_atomic(
        directory / "sds" / f"{service}.yaml", json.dumps(resource, indent=1).encode(), mode=0o600
    )
    return cert


def remaining_fraction(*, directory: Path, service: str) -> float:
    """How much of the certificate's lifetime is left (0 when missing or expired)."""
    path = directory / service / "cert.pem"
    if not path.exists() or not (directory / "sds" / f"{service}.yaml").exists():
        return 0.0
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    total = (end - start).total_seconds()
    return max(0.0, (end - _now()).total_seconds() / total) if total > 0 else 0.0


def rotate_due(
    *, directory: Path, services: tuple[str, ...] = MESH_SERVICES, ttl: int = DEFAULT_TTL
) -> list[str]:
    """Re-issue every certificate past half its life (and any that is missing)."""
    ca_ensure(directory=directory)
    renewed = []
    for service in services:
        if remaining_fraction(directory=directory, service=service) < 0.5:
            issue(directory=directory, service=service, ttl=ttl)
            renewed.append(service)
    return renewed


# --- the edge's local TLS certificate ---------------------------------------------------


def edge_tls(*, directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> bool:
    """A local TLS certificate for NGINX on 8443, signed by an edge CA of its own.

    Kept apart from the mesh CA on purpose: trusting the edge CA in a browser must not make
    a browser-side key a mesh identity. True when it wrote a new certificate.
    """
    out = directory / "edge"
    if (out / "cert.pem").exists() and (out / "key.pem").exists():
        cert = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
        if cert.not_valid_after_utc - _now() > dt.timedelta(days=7):
            return False
    ca_key = _key()
    ca_cert = _ca_certificate("flashsale local edge CA", ca_key, days=365)
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert, key = _leaf(
        common_name=hosts[0], sans=sans, ca_cert=ca_cert, ca_key=ca_key, ttl=90 * 24 * 3600
    )
    _write_atomic(out / "ca.pem", _cert_pem(ca_cert))
    _write_atomic(out / "key.pem", _key_pem(key), mode=0o600)
    # The chain NGINX sends: leaf then its CA.
    _write_atomic(out / "cert.pem", _cert_pem(cert) + _cert_pem(ca_cert))
    return True


def init(*, directory: Path, ttl: int = DEFAULT_TTL) -> list[str]:
    """Everything a local run needs: CA, every mesh service's certificate, the edge cert."""
    created = ["mesh CA"] if ca_ensure(directory=directory) else []
    created += [f"{s} certificate" for s in rotate_due(directory=directory, ttl=ttl)]
    if edge_tls(directory=directory):
        created.append("edge TLS certificate")
    return created


# --- command line -----------------------------------------------------------------------


def _describe(directory: Path, service: str) -> str:
    cert = x509.load_pem_x509_certificate((directory / service / "cert.pem").read_bytes())
    uri = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ids = ", ".join(uri.get_values_for_type(x509.UniformResourceIdentifier))
    return f"{service}: {ids} valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bin/mesh-certs",
        description="Mesh CA and short-lived SPIFFE certificates for the Envoy sidecars.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("MESH_DIR", Path(os.environ.get("VAR_DIR", "var")) / "mesh")),
        help="where the CA, certificates and SDS files live (default $VAR_DIR/mesh)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_init = sub.add_parser("init", help="CA (if missing), every service's cert, edge TLS cert")
    p_init.add_argument("--ttl", type=int, default=DEFAULT_TTL, help="certificate life, seconds")
    p_issue = sub.add_parser("issue", help="issue (or re-issue now) one service's certificate")
    p_issue.add_argument("service")
    p_issue.add_argument("--ttl", type=int, default=DEFAULT_TTL)
    p_rot = sub.add_parser("rotate", help="re-issue certificates past half their life")
    p_rot.add_argument("--ttl", type=int, default=DEFAULT_TTL)
    p_rot.add_argument("--watch", action="store_true", help="keep doing it (for the Procfile)")
    p_rot.add_argument("--every", type=float, default=30.0, help="seconds between checks")
    p_ca = sub.add_parser("ca-rotate", help="replace the mesh CA: begin, switch, finish")
    p_ca.add_argument("phase", choices=("begin", "switch", "finish"))
    p_ca.add_argument("--ttl", type=int, default=DEFAULT_TTL)
    sub.add_parser("edge-tls", help="the edge's local TLS certificate (own CA)")
    sub.add_parser("show", help="print each service's identity and expiry")
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()

    if args.command == "init":
        created = init(directory=directory, ttl=args.ttl)
        print(f"mesh-certs: {', '.join(created) or 'everything already valid'} in {directory}")
    elif args.command == "issue":
        ca_ensure(directory=directory)
        issue(directory=directory, service=args.service, ttl=args.ttl)
        print(f"mesh-certs: issued {_describe(directory, args.service)}")
    elif args.command == "rotate":
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        while True:
            try:
                for service in rotate_due(directory=directory, ttl=args.ttl):
                    print(f"mesh-certs: rotated {_describe(directory, service)}", flush=True)
            except (OSError, ValueError) as exc:
                if not args.watch:
                    raise
                # A CA rotation in progress, say: try again at the next tick.
                print(f"mesh-certs: rotation check failed ({exc}); retrying", flush=True)
            if not args.watch or stop:
                break
            deadline = time.monotonic() + args.every
            while not stop and time.monotonic() < deadline:
                time.sleep(0.5)
            if stop:
                break
    elif args.command == "ca-rotate":
        print(
            f"mesh-certs: ca-rotate {args.phase}: "
            f"{ca_rotate(directory=directory, phase=args.phase, ttl=args.ttl)}"
        )
    elif args.command == "edge-tls":
        wrote = edge_tls(directory=directory)
        state = "wrote" if wrote else "kept (still valid)"
        print(f"mesh-certs: {state} {directory / 'edge' / 'cert.pem'}")
    elif args.command == "show":
        for service in MESH_SERVICES:
            if (directory / service / "cert.pem").exists():
                print(_describe(directory, service))
            else:
                print(f"{service}: no certificate (run bin/mesh-certs init)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
