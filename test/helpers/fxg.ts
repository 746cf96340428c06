/** Runs the real `fxg` command (bin/fxg.js) on the SQLite store in `dataDir`, as an administrator would. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/core/fhir-definitions.js';

const run = promisify(execFile);
export const FXG = join(PROJECT_ROOT, 'bin', 'fxg.js');

export async function fxg(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [FXG, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, FXG_DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'error', FXG_PARTNERS_DIR: join(dataDir, 'partners') },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
