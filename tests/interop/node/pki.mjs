// A throwaway PKI for the TLS tests, made with the openssl command in a given directory:
// a CA and a server certificate for localhost and 127.0.0.1 signed by it, valid one day.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// Returns { ca: <CA certificate PEM bytes>, cert: <server cert path>, key: <server key path> }.
export function makePki(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.crt', '-days', '1', '-subj', '/CN=wirehub node test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  fs.writeFileSync(path.join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key',
    '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
    '-sha256', '-extfile', 'server.ext', '-out', 'server.crt');
  return { ca: fs.readFileSync(path.join(dir, 'ca.crt')), cert: path.join(dir, 'server.crt'),
    key: path.join(dir, 'server.key') };
}
