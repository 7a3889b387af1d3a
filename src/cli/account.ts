// `postern account add|list|setpassword|remove`: accounts in the server database. They
// use the databases only, so they work while the server runs.

import { defineCommand } from 'citty';
import { configArg, passwordArgs, passwordFrom, withServerDb } from './common.ts';

const address = { type: 'positional', required: true, description: 'Account address, localpart@domain' } as const;

const add = defineCommand({
  meta: { name: 'add', description: 'Add an account (its domain must exist); without a password option, one is generated and printed' },
  args: { address, ...passwordArgs, ...configArg },
  async run({ args }) {
    const { password, generated } = await passwordFrom(args);
    const a = withServerDb(args, (db) => db.addAccount(args.address, password));
    process.stdout.write(`added account ${a.address}\n`);
    if (generated) process.stdout.write(`password: ${password}\n`);
  },
});

const list = defineCommand({
  meta: { name: 'list', description: 'List accounts, one address per line' },
  args: { ...configArg },
  run({ args }) {
    const accounts = withServerDb(args, (db) => db.accounts());
    for (const a of accounts) process.stdout.write(`${a.address}${a.disabled ? '\t(disabled)' : ''}\n`);
  },
});

const setpassword = defineCommand({
  meta: { name: 'setpassword', description: 'Set an account\'s password; without a password option, one is generated and printed' },
  args: { address, ...passwordArgs, ...configArg },
  async run({ args }) {
    const { password, generated } = await passwordFrom(args);
    const stored = withServerDb(args, (db) => {
      db.setPassword(args.address, password);
      return db.account(args.address)?.address ?? args.address;
    });
    process.stdout.write(`password set for ${stored}\n`);
    if (generated) process.stdout.write(`password: ${password}\n`);
  },
});

const remove = defineCommand({
  meta: { name: 'remove', description: 'Remove an account and delete its mail' },
  args: { address, ...configArg },
  run({ args }) {
    const stored = withServerDb(args, (db) => {
      const a = db.account(args.address)?.address ?? args.address;
      db.removeAccount(args.address);
      return a;
    });
    process.stdout.write(`removed account ${stored} and its mail\n`);
  },
});

export const accountCommand = defineCommand({
  meta: { name: 'account', description: 'Manage accounts' },
  subCommands: { add, list, setpassword, remove },
});
