"""A throwaway PKI for TLS tests, made with the openssl command: a CA, a server
certificate for localhost and 127.0.0.1, and a second one for another SNI name, all
signed by the CA (P-256 keys, valid for a day)."""

import pathlib
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _leaf(directory: pathlib.Path, stem: str, san: str) -> tuple[str, str]:
    ext = directory / f"{stem}.ext"
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={stem}", cwd=directory)
    _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-sha256", "-extfile", ext.name, "-out", f"{stem}.crt", cwd=directory)
    return str(directory / f"{stem}.crt"), str(directory / f"{stem}.key")


def make_pki(directory: pathlib.Path) -> dict:
    """Returns paths: ca, cert/key (localhost, 127.0.0.1), other_cert/other_key (other.test)."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=wirehub test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    cert, key = _leaf(directory, "server", "DNS:localhost,IP:127.0.0.1")
    other_cert, other_key = _leaf(directory, "other", "DNS:other.test,DNS:*.other.test")
    return {"ca": str(directory / "ca.crt"), "cert": cert, "key": key,
            "other_cert": other_cert, "other_key": other_key}
