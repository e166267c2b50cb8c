#!/usr/bin/env python3
"""Checks testssl.sh (3.0.x) pretty-JSON reports against tlsgate's default TLS policy.

    check_testssl.py [--name NAME] JSONFILE...

Fails (exit 1, one line per violation) when a report shows:
  * a protocol below TLS 1.2 offered (SSLv2, SSLv3, TLS1, TLS1_1), or its test missing;
  * TLS compression (CRIME_TLS not "not vulnerable");
  * client-initiated renegotiation (secure_client_renego not "not vulnerable");
  * an offered TLS <= 1.2 cipher outside Applied Crypto Hardening cipher string B (the list
    comes from the local `openssl ciphers`; testssl names ciphers the OpenSSL way). TLS 1.3
    suites are allowed;
  * no server cipher preference (cipher_order not "server");
  * DH parameters below 2048 bits (DH_groups, LOGJAM-common_primes, the "DH nnnn" key
    exchange column of each offered cipher);
  * any finding with severity HIGH or CRITICAL (or a FATAL scan problem), except the
    certificate-trust findings listed in CERT_TRUST_EXCLUDED.
Prints a one-paragraph summary per report.
"""
import argparse
import json
import re
import subprocess
import sys
from collections import Counter

CIPHER_STRING_B = (
    "EDH+CAMELLIA:EDH+aRSA:EECDH+aRSA+AESGCM:EECDH+aRSA+SHA384:EECDH+aRSA+SHA256:EECDH"
    ":+CAMELLIA256:+AES256:+CAMELLIA128:+AES128:+SSLv3:!aNULL:!eNULL:!LOW:!3DES:!MD5:!EXP"
    ":!PSK:!DSS:!RC4:!SEED:!ECDSA:CAMELLIA256-SHA:AES256-SHA:CAMELLIA128-SHA:AES128-SHA"
)
TLS13_SUITES = {
    "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
    "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
}
OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
ALL_PROTOCOLS = OLD_PROTOCOLS + ("TLS1_2", "TLS1_3")

# Findings about the self-signed test certificate (generated per run, no CA, no CRL/OCSP,
# short-lived, no public DNS): expected for a test cert, so their severity is not counted.
# Only certificate-trust ids belong here — never a protocol, cipher or vulnerability id.
CERT_TRUST_EXCLUDED = {
    "cert_chain_of_trust",          # self signed: no trusted CA
    "cert_trust",                   # name/SAN match for the test host name
    "cert_commonName",
    "cert_commonName_wo_SNI",
    "cert_subjectAltName",
    "cert_caIssuers",
    "cert_expirationStatus",        # test cert lifetime
    "cert_notBefore",
    "cert_notAfter",
    "cert_validityPeriod",
    "cert_revocation",              # neither CRL nor OCSP URI in a test cert
    "cert_crlDistributionPoints",
    "cert_ocspURL",
    "OCSP_stapling",
    "cert_mustStapleExtension",
    "certificate_transparency",     # no CT log for a test cert
    "DNS_CAArecord",                # no DNS for 127.0.0.1
}

# DH groups testssl recognises by name, with their size in bits.
NAMED_DH_BITS = {
    "RFC2409/Oakley Group 1": 768,
    "RFC2409/Oakley Group 2": 1024,
    "RFC3526/Oakley Group 5": 1536,
    "RFC3526/Oakley Group 14": 2048,
    "RFC3526/Oakley Group 15": 3072,
    "RFC3526/Oakley Group 16": 4096,
    "RFC3526/Oakley Group 17": 6144,
    "RFC3526/Oakley Group 18": 8192,
}


def allowed_ciphers() -> set:
    out = subprocess.run(["openssl", "ciphers", "-tls1_2", CIPHER_STRING_B],
                         check=True, capture_output=True, text=True).stdout
    return {c for c in out.strip().split(":") if c}


def base_id(finding_id: str) -> str:
    # Multi-certificate reports suffix ids with " <hostCert#1>" and the like.
    return finding_id.split(" ", 1)[0]


def dh_bits(text: str):
    for name, bits in NAMED_DH_BITS.items():
        if name in text:
            return bits
    m = re.search(r"ffdhe(\d+)", text)
    if m:
        return int(m.group(1))
    m = re.search(r"(\d{3,5})\s*bits?", text)
    return int(m.group(1)) if m else None


def check(name: str, path: str, allowed: set) -> list:
    with open(path) as f:
        report = json.load(f)
    violations = []
    results = report.get("scanResult") or []
    if not results:
        return [f"{name}: no scanResult in {path}"]
    sr = results[0]
    sections = {k: v for k, v in sr.items() if isinstance(v, list)}
    by_id = {}
    for findings in sections.values():
        for f in findings:
            by_id.setdefault(base_id(f.get("id", "")), f)

    def finding(fid):
        f = by_id.get(fid)
        return None if f is None else f.get("finding", "")

    # Protocols.
    offered = []
    for proto in ALL_PROTOCOLS:
        text = finding(proto)
        if text is None:
            if proto in OLD_PROTOCOLS:
                violations.append(f"{name}: protocol {proto} not tested (no '{proto}' finding)")
            continue
        if proto in OLD_PROTOCOLS and not text.startswith("not offered"):
            violations.append(f"{name}: protocol {proto} below TLS 1.2: {text}")
        if text.startswith("offered"):
            offered.append(proto)

    # Compression and renegotiation.
    for fid, what in (("CRIME_TLS", "TLS compression"),
                      ("secure_client_renego", "client-initiated renegotiation")):
        text = finding(fid)
        if text is None:
            violations.append(f"{name}: {what} not tested (no '{fid}' finding)")
        elif not text.startswith("not vulnerable"):
            violations.append(f"{name}: {what}: {fid} = {text}")

    # Ciphers: each one testssl found offered (-e), plus the per-protocol order lists (-P).
    ciphers = {}
    for f in sections.get("cipherTests", []):
        cols = f.get("finding", "").split()
        if len(cols) >= 2:
            ciphers[cols[1]] = f.get("finding", "")
    if not ciphers:
        violations.append(f"{name}: no offered cipher listed (cipherTests empty: was -e run?)")
    order_names = set()
    for fid, text in ((k, finding(k)) for k in by_id if k.startswith("cipherorder_")):
        order_names.update(text.split())
    for cipher in sorted(set(ciphers) | order_names):
        if cipher in TLS13_SUITES:
            continue
        if cipher not in allowed:
            violations.append(f"{name}: cipher {cipher} offered, not in cipher string B")

    # Server cipher preference.
    order = finding("cipher_order")
    if order is None:
        violations.append(f"{name}: server cipher preference not tested (no 'cipher_order')")
    elif not order.startswith("server"):
        violations.append(f"{name}: no server cipher preference: cipher_order = {order}")

    # DH parameter sizes.
    dh_seen = []
    for fid in ("DH_groups", "LOGJAM-common_primes"):
        text = finding(fid)
        if text and not text.startswith(("no ", "No ", "--")):
            bits = dh_bits(text)
            entry = text + (f" ({bits} bits)" if bits else "")
            if entry not in dh_seen:
                dh_seen.append(entry)
            if bits is not None and bits < 2048:
                violations.append(f"{name}: DH group below 2048 bits: {fid} = {text}")
            if bits is None and by_id[fid].get("severity") not in ("OK", "INFO"):
                violations.append(f"{name}: DH group of unknown size flagged "
                                  f"{by_id[fid].get('severity')}: {fid} = {text}")
    for cipher, text in ciphers.items():
        m = re.search(r"\bDH (\d+)\b", text)
        if m and int(m.group(1)) < 2048:
            violations.append(f"{name}: {cipher} uses DH {m.group(1)} bits (< 2048)")

    # Severities.
    severities = Counter()
    excluded = []
    for findings in sections.values():
        for f in findings:
            sev = f.get("severity", "")
            severities[sev] += 1
            if sev in ("HIGH", "CRITICAL", "FATAL"):
                fid = base_id(f.get("id", ""))
                if fid in CERT_TRUST_EXCLUDED:
                    excluded.append(f"{fid} ({sev})")
                else:
                    violations.append(f"{name}: {sev} finding {f.get('id')}: {f.get('finding')}")

    tls12_order = (finding("cipherorder_TLSv1_2") or "").split()
    sev_text = ", ".join(f"{s} {severities[s]}" for s in
                         ("CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "FATAL", "OK", "INFO")
                         if severities[s])
    warns = [f"{f['id']}: {f.get('finding')}" for fs in sections.values() for f in fs
             if f.get("severity") == "WARN"]
    print(f"{name} ({sr.get('targetHost')}:{sr.get('port')}, service {sr.get('service')}): "
          f"protocols offered {' '.join(offered) or 'none'}; "
          f"{len(ciphers)} ciphers offered "
          f"({sum(1 for c in ciphers if c in TLS13_SUITES)} TLS 1.3, "
          f"{sum(1 for c in ciphers if c not in TLS13_SUITES)} TLS 1.2), "
          f"TLS 1.2 server preference starts {' '.join(tls12_order[:3]) or '?'}; "
          f"cipher order {order or '?'}; DH {'; '.join(dh_seen) or 'none'}; "
          f"findings by severity: {sev_text}; "
          f"excluded certificate-trust findings: {', '.join(excluded) or 'none'}"
          + (f"; warnings: {'; '.join(warns)}" if warns else "")
          + f"; {'FAIL' if violations else 'PASS'}.")
    return violations


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--name", help="label for the report (default: file name)")
    ap.add_argument("json", nargs="+")
    args = ap.parse_args()
    allowed = allowed_ciphers()
    failed = 0
    for path in args.json:
        name = args.name if args.name and len(args.json) == 1 else path
        violations = check(name, path, allowed)
        for v in violations:
            print(f"VIOLATION {v}")
        failed += bool(violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
