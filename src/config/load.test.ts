import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { DEFAULTS, defaultConfig } from './defaults.ts';
import { ConfigError, configToToml, keyPath, loadConfig, parseConfig, writeConfig } from './load.ts';
import { ConfigSchema } from './schema.ts';

function err(text: string): string {
  try {
    parseConfig(text, 'postern.toml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const L = (extra: string) => `data_dir = "d"\n[[listeners]]\nname = "imap"\nport = 143\ntls = "none"\n${extra}`;

describe('loading', () => {
  test('a minimal file gets every default; paths resolve against the file', () => {
    const c = parseConfig('data_dir = "data"\n[[listeners]]\nname = "x"\nport = 0\ntls = "starttls"\ncert = "c.pem"\nkey = "/abs/k.pem"\n', '/etc/postern/postern.toml');
    expect(c).toEqual({
      ...defaultConfig('/etc/postern/data'),
      listeners: [{ name: 'x', address: '127.0.0.1', port: 0, tls: 'starttls', cert: '/etc/postern/c.pem', key: '/abs/k.pem' }],
    });
    expect(c.limits.append_max_bytes).toBe(104857600);
    expect(c.auth.plaintext_without_tls).toBe('loopback');
  });

  test('every key can be set', () => {
    const c = parseConfig(`data_dir = "/srv/mail"
log_level = "debug"
[[listeners]]
name = "imaps"
address = "::"
port = 993
tls = "implicit"
cert = "c"
key = "k"
[auth]
plaintext_without_tls = "never"
failed_login_delay_ms = 10
failed_login_delay_max_ms = 20
[limits]
append_max_bytes = 1
idle_timeout_seconds = 2
login_timeout_seconds = 3
max_connections_per_ip = 0
[mailboxes]
drafts = "Entwürfe"
sent = "Gesendet"
archive = "Archiv"
junk = "Spam"
trash = "Papierkorb"
`, '/x/p.toml');
    expect(c.log_level).toBe('debug');
    expect(c.listeners[0].address).toBe('::');
    expect(c.auth).toEqual({ plaintext_without_tls: 'never', failed_login_delay_ms: 10, failed_login_delay_max_ms: 20 });
    expect(c.limits).toEqual({ append_max_bytes: 1, idle_timeout_seconds: 2, idle_keepalive_seconds: 120, login_timeout_seconds: 3, max_connections_per_ip: 0 });
    expect(c.mailboxes.drafts).toBe('Entwürfe');
  });

  test('a missing or unreadable file names the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-cfg-'));
    try {
      expect(() => loadConfig(join(dir, 'nope.toml'))).toThrow(`${join(dir, 'nope.toml')}: cannot read config file: no such file`);
      expect(() => loadConfig(dir)).toThrow(`${dir}: cannot read config file: is a directory`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('errors: one line with file, key path and what was expected', () => {
  test.each([
    [L('tls = "x"').replace('tls = "none"\n', ''), 'postern.toml: listeners[0].tls: expected one of "none", "starttls", "implicit", got "x"'],
    ['', 'postern.toml: data_dir: missing; expected a non-empty string'],
    ['data_dir = 5', 'postern.toml: data_dir: expected a non-empty string, got 5'],
    ['data_dir = ""', 'postern.toml: data_dir: expected a non-empty string, got ""'],
    ['data_dir = "d"\nfoo = 1', 'postern.toml: foo: unknown key; expected one of data_dir, log_level, listeners, auth, limits, compress, mailboxes'],
    ['data_dir = "d"\n[auth]\nplaintext = "x"', 'postern.toml: auth.plaintext: unknown key; expected one of plaintext_without_tls, failed_login_delay_ms, failed_login_delay_max_ms'],
    ['data_dir = "d"\nlog_level = "loud"', 'postern.toml: log_level: expected one of "trace", "debug", "info", "warn", "error", got "loud"'],
    ['data_dir = "d"\nlog_level = 1979-05-27T07:32:00Z', 'postern.toml: log_level: expected one of "trace", "debug", "info", "warn", "error", got a date/time'],
    ['data_dir = "d"\nauth = 7', 'postern.toml: auth: expected a table, got 7'],
    ['data_dir = "d"\nlisteners = 3', 'postern.toml: listeners: expected an array of tables, got 3'],
    ['data_dir = "d"\n[limits]\nidle_timeout_seconds = "30"', 'postern.toml: limits.idle_timeout_seconds: expected an integer >= 1, got "30"'],
    ['data_dir = "d"\n[limits]\nappend_max_bytes = 1.5', 'postern.toml: limits.append_max_bytes: expected an integer >= 1, got 1.5'],
    ['data_dir = "d"\n[auth]\nfailed_login_delay_ms = -1', 'postern.toml: auth.failed_login_delay_ms: expected an integer >= 0, got -1'],
    [L('').replace('port = 143', 'port = 65536'), 'postern.toml: listeners[0].port: expected an integer from 0 to 65535, got 65536'],
    [L('').replace('name = "imap"\n', ''), 'postern.toml: listeners[0].name: missing; expected a non-empty string'],
    [L('bogus = true'), 'postern.toml: listeners[0].bogus: unknown key; expected one of name, address, port, tls, cert, key'],
    [L('address = "mail.example.org"'), 'postern.toml: listeners[0].address: expected an IP address or "localhost", got "mail.example.org"'],
    [L('cert = "c"\nkey = "k"'), 'postern.toml: listeners[0].cert: not used with tls = "none"; remove it or use "starttls"'],
    [L('').replace('"none"', '"implicit"'), 'postern.toml: listeners[0].cert: missing; required when tls = "implicit"'],
    [L('cert = "c"').replace('"none"', '"implicit"'), 'postern.toml: listeners[0].key: missing; required when tls = "implicit"'],
    [L('cert = "c"').replace('"none"', '"starttls"'), 'postern.toml: listeners[0].key: missing; required when cert is set'],
    [L('[[listeners]]\nname = "imap"\nport = 144\ntls = "none"'), 'postern.toml: listeners[1].name: "imap" is already the name of listeners[0]'],
    [L('[[listeners]]\nname = "b"\nport = 143\ntls = "none"'), 'postern.toml: listeners[1].port: 143 on 127.0.0.1 is already used by listeners[0]'],
    ['data_dir = "d"\n[auth]\nfailed_login_delay_ms = 10\nfailed_login_delay_max_ms = 5', 'postern.toml: auth.failed_login_delay_max_ms: expected at least failed_login_delay_ms (10), got 5'],
    ['data_dir = "d"\n[mailboxes]\ntrash = "INBOX"', 'postern.toml: mailboxes.trash: expected a name outside INBOX, got "INBOX"'],
    ['data_dir = "d"\n[mailboxes]\ntrash = "sent"', 'postern.toml: mailboxes.trash: "sent" is already the name of mailboxes.sent'],
    ['data_dir = "d"\n[mailboxes]\ntrash = "a//b"', 'postern.toml: mailboxes.trash: expected a mailbox name (no control characters, no empty hierarchy level), got "a//b"'],
  ])('%#', (text, want) => {
    expect(err(text)).toBe(want);
  });

  test('two listeners on port 0 do not clash', () => {
    expect(parseConfig(L('[[listeners]]\nname = "b"\nport = 0\ntls = "none"').replace('port = 143', 'port = 0'), 'p.toml').listeners.length).toBe(2);
  });

  test('invalid TOML gives the file, the line and the reason', () => {
    expect(err('data_dir = "d"\n\nport = \n')).toBe("postern.toml: line 3: invalid TOML: Missing value after '='; values must be on the same line");
    expect(err('data_dir = "d\n')).toMatch(/^postern\.toml: line 1: invalid TOML: Unterminated string/);
    // A multi-line string before the error does not confuse the line count.
    expect(err('a = """\nx\n"""\nb = [\n1,\n')).toMatch(/^postern\.toml: line 4: invalid TOML: Unterminated array/);
    expect(err('[a]\nb = 1\n[a]\n')).toBe("postern.toml: line 3: invalid TOML: Cannot redefine table 'a'");
  });

  test('key paths', () => {
    expect(keyPath('/listeners/0/tls')).toBe('listeners[0].tls');
    expect(keyPath('/a b')).toBe('"a b"');
    expect(keyPath('')).toBe('');
  });
});

describe('writing', () => {
  test('what writeConfig writes loads back to the same config, with comments', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-cfg-'));
    try {
      const c = defaultConfig('data');
      c.listeners.push({ name: 'imap', address: '127.0.0.1', port: 1143, tls: 'starttls', cert: 'cert.pem', key: 'key.pem' });
      c.listeners.push({ name: 'imaps', address: '::1', port: 1993, tls: 'implicit', cert: 'cert.pem', key: 'key.pem' });
      c.mailboxes.sent = 'Gesendete "Objekte" \\x';
      c.data_dir = 'da"ta\\\u007f\u00e9';
      writeConfig(join(dir, 'postern.toml'), c);
      const text = readFileSync(join(dir, 'postern.toml'), 'utf8');
      expect(text).toContain('# TCP port');
      const back = loadConfig(join(dir, 'postern.toml'));
      expect(back).toEqual({
        ...c,
        data_dir: join(dir, 'da"ta\\\u007f\u00e9'),
        listeners: c.listeners.map((l) => ({ ...l, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') })),
      });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('the defaults object, the schema defaults and defaultConfig agree', () => {
    expect(parseConfig('data_dir = "/d"', '/p.toml')).toEqual(defaultConfig('/d'));
    expect(parseConfig(configToToml(defaultConfig('/d')), '/p.toml')).toEqual(defaultConfig('/d'));
    expect<number>(DEFAULTS.limits.append_max_bytes).toBe(100 * 1024 * 1024);
  });

  test('README.md documents every config key with its default', () => {
    const doc = readFileSync(join(import.meta.dir, '../../README.md'), 'utf8');
    const walk = (s: TSchema, prefix: string): void => {
      for (const [k, p] of Object.entries(s.properties as Record<string, TSchema>)) {
        const sub = p.type === 'array' ? p.items : p;
        if (sub.type === 'object') {
          expect(doc).toContain(p.type === 'array' ? `[[${k}]]` : `[${k}]`);
          walk(sub, k);
          continue;
        }
        const row = doc.split('\n').find((l) => l.startsWith(`| \`${k}\` |`));
        expect(row, `${prefix}.${k} in README.md`).toBeDefined();
        if (p.default !== undefined) expect(row).toContain(`| \`${JSON.stringify(p.default)}\``);
      }
    };
    walk(ConfigSchema, '');
  });
});
