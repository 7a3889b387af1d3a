// Default values of every config key, in one place: the schema takes its defaults from
// here, and so does defaultConfig(). README.md documents the same numbers.
//
// No runtime import of schema.ts (it imports this module).

import type { Config } from './schema.ts';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export const TLS_MODES = ['none', 'starttls', 'implicit'] as const;
export const PLAINTEXT_MODES = ['loopback', 'always', 'never'] as const;

export const DEFAULTS = {
  log_level: 'info',
  listener: { address: '127.0.0.1' },
  auth: {
    plaintext_without_tls: 'loopback',
    failed_login_delay_ms: 1000,
    failed_login_delay_max_ms: 15000,
  },
  limits: {
    append_max_bytes: 104857600,
    idle_timeout_seconds: 1800,
    idle_keepalive_seconds: 120,
    login_timeout_seconds: 60,
    max_connections_per_ip: 100,
  },
  compress: {
    enabled: true,
    level: 6,
  },
  mailboxes: {
    drafts: 'Drafts',
    sent: 'Sent',
    archive: 'Archive',
    junk: 'Junk',
    trash: 'Trash',
  },
} as const;

/** A complete config with every default and no listeners (tests add their own). */
export function defaultConfig(dataDir: string): Config {
  return {
    data_dir: dataDir,
    log_level: DEFAULTS.log_level,
    listeners: [],
    auth: { ...DEFAULTS.auth },
    limits: { ...DEFAULTS.limits },
    compress: { ...DEFAULTS.compress },
    mailboxes: { ...DEFAULTS.mailboxes },
  };
}
