// The bench harness works: `bench/run.ts --quick` runs every scenario against postern (and
// Dovecot when installed) and writes one JSON document of the documented shape. Timings
// are never checked: only that each scenario produced its figures, for each server, with
// no server failing and, when both ran, a ratio for each compared figure.

import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dovecotAvailable } from './dovecot.ts';

const SCENARIOS = ['append', 'fetch', 'search', 'mixed', 'idle', 'literals', 'login', 'compress', 'codecs'];
/** Scenarios that measure postern's code in-process: no server, no Dovecot half. */
const POSTERN_ONLY = ['codecs'];

describe('bench --quick', () => {
  test('runs every scenario and writes the JSON document', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-bench-test-'));
    try {
      const out = join(dir, 'result.json');
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, 'run.ts'), '--quick', '--out', out], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, POSTERN_TRACE: '' } });
      const timer = setTimeout(() => proc.kill(9), 170_000);
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      clearTimeout(timer);
      if (code !== 0) throw new Error(`bench exited with ${code}:\n${stderr.slice(-4000)}`);

      const doc = JSON.parse(readFileSync(out, 'utf8'));
      expect(JSON.parse(stdout)).toEqual(doc);
      expect(doc.schema).toBe('postern-bench/1');
      expect(doc.mode).toBe('quick');
      expect(doc.repetitions).toBe(1);
      expect(doc.postern.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(doc.postern.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(doc.machine.cores).toBeGreaterThan(0);
      expect(doc.machine.memory_mib).toBeGreaterThan(0);
      expect(typeof doc.machine.kernel).toBe('string');
      const both = dovecotAvailable();
      expect(doc.dovecot.available).toBe(both);
      expect(doc.dovecot.used).toBe(both);
      if (both) expect(doc.dovecot.version).toMatch(/^2\.\d+/);
      else expect(doc.notes.join(' ')).toContain('Dovecot is not installed');

      expect(doc.scenarios.map((s: { name: string }) => s.name)).toEqual(SCENARIOS);
      for (const s of doc.scenarios) {
        expect(typeof s.description).toBe('string');
        expect(typeof s.params).toBe('object');
        expect(Array.isArray(s.caps)).toBe(true);
        expect(s.headline.length).toBeGreaterThan(0);
        const alone = !both || POSTERN_ONLY.includes(s.name);
        for (const name of alone ? ['postern'] : ['postern', 'dovecot']) {
          const r = s.servers[name];
          expect(r, `${s.name}/${name}`).toBeDefined();
          expect(r.error, `${s.name}/${name}: ${r.error}`).toBeUndefined();
          expect(r.reps.length, `${s.name}/${name}`).toBe(1);
          const figures = Object.entries(r.figures);
          expect(figures.length, `${s.name}/${name}`).toBeGreaterThan(0);
          for (const [k, v] of figures) expect(v === null || typeof v === 'number', `${s.name}/${name}/${k}`).toBe(true);
          // Every headline figure was measured (a null would mean the scenario lost it).
          for (const k of s.headline) expect(typeof r.figures[k], `${s.name}/${name}/${k}`).toBe('number');
        }
        if (!alone) {
          const compared = Object.values(s.comparison) as Array<{ ratio: number | null; better: string }>;
          expect(compared.length, s.name).toBeGreaterThan(0);
          for (const c of compared) expect(['higher', 'lower']).toContain(c.better);
        }
      }
      // The table for people names every scenario.
      for (const name of SCENARIOS) expect(stderr).toContain(`\n${name} `);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
