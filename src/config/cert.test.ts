import { expect, test } from 'bun:test';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { generateSelfSigned } from './cert.ts';

test('a generated certificate parses, matches its key and carries its names', () => {
  const { certPem, keyPem } = generateSelfSigned({
    commonName: 'localhost', dnsNames: ['localhost', 'mail.example'], ipAddresses: ['127.0.0.1', '::1', 'fe80::1:2'], days: 30,
  });
  const x = new X509Certificate(certPem);
  expect(x.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
  expect(x.verify(x.publicKey)).toBe(true); // self-signed: its own key verifies it
  expect(x.subject).toBe('CN=localhost');
  expect(x.issuer).toBe('CN=localhost');
  expect(x.ca).toBe(false);
  expect(x.subjectAltName).toBe('DNS:localhost, DNS:mail.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:1:2');
  expect(x.checkHost('localhost')).toBe('localhost');
  expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
  const from = new Date(x.validFrom).getTime(), to = new Date(x.validTo).getTime();
  expect(from).toBeLessThanOrEqual(Date.now());
  expect(Math.round((to - Date.now()) / 86400_000)).toBe(30);
  expect(x.keyUsage ?? []).toEqual(['1.3.6.1.5.5.7.3.1']);
});

test('validity past 2049 uses GeneralizedTime', () => {
  const { certPem } = generateSelfSigned({ commonName: 'far', days: 365 * 40 });
  const x = new X509Certificate(certPem);
  expect(new Date(x.validTo).getUTCFullYear()).toBeGreaterThan(2050);
});

test('a TLS handshake completes with it on 127.0.0.1', async () => {
  const { certPem, keyPem } = generateSelfSigned({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
  const server = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    tls: { cert: certPem, key: keyPem },
    socket: {
      open(s) { s.write('hello\r\n'); },
      data() {},
    },
  });
  try {
    const got = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no TLS greeting')), 5000);
      Bun.connect({
        hostname: '127.0.0.1',
        port: server.port,
        tls: { rejectUnauthorized: false },
        socket: {
          data(s, d) { clearTimeout(timer); s.end(); resolve(new TextDecoder().decode(d)); },
          error(_s, e) { clearTimeout(timer); reject(e); },
          connectError(_s, e) { clearTimeout(timer); reject(e); },
        },
      }).catch(reject);
    });
    expect(got).toBe('hello\r\n');
  } finally {
    server.stop(true);
  }
});
