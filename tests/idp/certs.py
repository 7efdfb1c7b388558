#!/usr/bin/python3
"""Test CA and server certificate for the kztoken test identity provider.

make_tls_material(statedir) creates, every time it is called:
  ca.pem          the test CA certificate (what clients pass as ca_file / --cacert)
  server.pem      the server certificate, valid for DNS:localhost and IP:127.0.0.1/::1
  server.key      the server private key (mode 0600)
and returns the paths of server.pem and server.key.

Only the standard library and Debian's python3-cryptography are used.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _write(path, data, mode=0o644):
    """Write bytes atomically (temp file + rename) with the given mode."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _name(common_name):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kztoken tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def make_tls_material(statedir):
    """Generate a fresh CA and a server certificate signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(days=1)
    not_after = now + datetime.timedelta(days=30)

    # The CA: EC P-256 keeps generation fast; OpenSSL and libcurl handle it.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("kztoken test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    # The server certificate, for the loopback names a test may use.
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(srv_key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_path = os.path.join(statedir, "ca.pem")
    cert_path = os.path.join(statedir, "server.pem")
    key_path = os.path.join(statedir, "server.key")
    _write(key_path, srv_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    _write(cert_path, srv_cert.public_bytes(serialization.Encoding.PEM))
    _write(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    # The CA key is not needed after signing and is never written to disk.
    return cert_path, key_path


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 2:
        sys.exit("usage: certs.py STATEDIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    print(*make_tls_material(sys.argv[1]))
