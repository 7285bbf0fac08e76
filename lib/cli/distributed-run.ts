// A CLI command's run under a data-parallel launch (torchrun or `--nproc-per-node`): joins the group,
// and on failure leaves the reason where the other ranks look before leaving.
import { initDistributedFromEnv, Distributed } from '../distributed';

/** Runs `run` with the group the environment describes, or with null outside a launch. */
export async function withDistributed<T>(run: (dist: Distributed | null) => Promise<T>): Promise<T> {
  const dist = await initDistributedFromEnv();
  let result: T;
  try {
    result = await run(dist);
  } catch (e) {
    dist?.reportFailure((e as Error).message);
    await dist?.close(false);
    throw e;
  }
  await dist?.close(true); // after every rank is done: rank 0 hosts the store
  return result;
}
