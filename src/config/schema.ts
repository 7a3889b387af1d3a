// The config file's schema (TypeBox). Keys are the TOML keys, snake_case; the loaded
// object has exactly these keys with defaults filled in. Every object refuses unknown keys.
// Each `description` is also the comment writeConfig() puts above the key.

import { type Static, type TLiteral, Type } from '@sinclair/typebox';
import { DEFAULTS, LOG_LEVELS, PLAINTEXT_MODES, TLS_MODES } from './defaults.ts';

function oneOf<const T extends readonly string[]>(values: T, opts: { default?: T[number]; description: string }) {
  return Type.Union(values.map((v) => Type.Literal(v)) as TLiteral<T[number]>[], opts);
}

const NonEmpty = (description: string, dflt?: string) =>
  Type.String({ minLength: 1, description, ...(dflt === undefined ? {} : { default: dflt }) });

const Count = (description: string, dflt: number, minimum = 0) =>
  Type.Integer({ minimum, description, default: dflt });

export const ListenerSchema = Type.Object({
  name: NonEmpty('Name of the listener, used in logs; unique.'),
  address: NonEmpty('IP address to listen on ("::" or "0.0.0.0" for all).', DEFAULTS.listener.address),
  port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free port (tests).' }),
  tls: oneOf(TLS_MODES, {
    description: '"none": plain only; "starttls": plain, STARTTLS offered when cert and key are set; "implicit": TLS from the first byte.',
  }),
  cert: Type.Optional(NonEmpty('PEM certificate chain; required for "implicit", optional for "starttls".')),
  key: Type.Optional(NonEmpty('PEM private key for cert.')),
}, { additionalProperties: false, description: 'One [[listeners]] table per listening socket.' });

export const AuthSchema = Type.Object({
  plaintext_without_tls: oneOf(PLAINTEXT_MODES, {
    default: DEFAULTS.auth.plaintext_without_tls,
    description: 'LOGIN/AUTHENTICATE PLAIN before TLS: "loopback" (only from loopback addresses), "always" or "never".',
  }),
  failed_login_delay_ms: Count('Delay before answering a failed login; doubles with each further failure from the same address.', DEFAULTS.auth.failed_login_delay_ms),
  failed_login_delay_max_ms: Count('Upper bound of that delay.', DEFAULTS.auth.failed_login_delay_max_ms),
}, { additionalProperties: false, default: {}, description: 'Authentication.' });

export const LimitsSchema = Type.Object({
  append_max_bytes: Count('Largest message APPEND accepts (announced as APPENDLIMIT).', DEFAULTS.limits.append_max_bytes, 1),
  idle_timeout_seconds: Count('Close an authenticated connection after this long without a command (IDLE included).', DEFAULTS.limits.idle_timeout_seconds, 1),
  idle_keepalive_seconds: Count('Interval of the `* OK Still here` keep-alive sent during IDLE.', DEFAULTS.limits.idle_keepalive_seconds, 1),
  login_timeout_seconds: Count('Close a connection that has not logged in after this long.', DEFAULTS.limits.login_timeout_seconds, 1),
  max_connections_per_ip: Count('Open connections allowed from one IP address; 0 means no limit.', DEFAULTS.limits.max_connections_per_ip),
}, { additionalProperties: false, default: {}, description: 'Limits.' });

export const CompressSchema = Type.Object({
  enabled: Type.Boolean({ default: DEFAULTS.compress.enabled, description: 'Offer COMPRESS=DEFLATE (RFC 4978) to logged-in clients.' }),
  level: Type.Integer({ minimum: 1, maximum: 9, default: DEFAULTS.compress.level, description: 'Deflate level of what the server sends: 1 is fastest, 9 smallest.' }),
}, { additionalProperties: false, default: {}, description: 'Compression.' });

export const MailboxesSchema = Type.Object({
  drafts: NonEmpty('Name of the \\Drafts mailbox created for new accounts.', DEFAULTS.mailboxes.drafts),
  sent: NonEmpty('Name of the \\Sent mailbox.', DEFAULTS.mailboxes.sent),
  archive: NonEmpty('Name of the \\Archive mailbox.', DEFAULTS.mailboxes.archive),
  junk: NonEmpty('Name of the \\Junk mailbox.', DEFAULTS.mailboxes.junk),
  trash: NonEmpty('Name of the \\Trash mailbox.', DEFAULTS.mailboxes.trash),
}, { additionalProperties: false, default: {}, description: 'Special-use mailboxes every new account gets (besides INBOX).' });

export const ConfigSchema = Type.Object({
  data_dir: NonEmpty('Directory of server.db and accounts/; relative to this file.'),
  log_level: oneOf(LOG_LEVELS, { default: DEFAULTS.log_level, description: 'trace, debug, info, warn or error.' }),
  listeners: Type.Array(ListenerSchema, { default: [], description: ListenerSchema.description }),
  auth: AuthSchema,
  limits: LimitsSchema,
  compress: CompressSchema,
  mailboxes: MailboxesSchema,
}, { additionalProperties: false });

export type Config = Static<typeof ConfigSchema>;
export type ListenerConfig = Static<typeof ListenerSchema>;
export type TlsMode = ListenerConfig['tls'];
