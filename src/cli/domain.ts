// `postern domain add|list|remove`: domains in the server database.

import { defineCommand } from 'citty';
import { normalizeDomain } from '../store/server.ts';
import { configArg, withServerDb } from './common.ts';

const name = { type: 'positional', required: true, description: 'Domain name, e.g. example.org' } as const;

const add = defineCommand({
  meta: { name: 'add', description: 'Add a domain' },
  args: { name, ...configArg },
  run({ args }) {
    const d = withServerDb(args, (db) => db.addDomain(args.name));
    process.stdout.write(`added domain ${d.name}\n`);
  },
});

const list = defineCommand({
  meta: { name: 'list', description: 'List domains, one per line' },
  args: { ...configArg },
  run({ args }) {
    for (const d of withServerDb(args, (db) => db.domains())) process.stdout.write(`${d.name}\n`);
  },
});

const remove = defineCommand({
  meta: { name: 'remove', description: 'Remove a domain that has no accounts' },
  args: { name, ...configArg },
  run({ args }) {
    withServerDb(args, (db) => db.removeDomain(args.name));
    process.stdout.write(`removed domain ${normalizeDomain(args.name)}\n`);
  },
});

export const domainCommand = defineCommand({
  meta: { name: 'domain', description: 'Manage domains' },
  subCommands: { add, list, remove },
});
