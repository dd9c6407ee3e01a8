// Whether a process with this pid exists (EPERM: it does, but belongs to someone else). Only ever a
// hint for messages and sweeps: a pid can be reused, so nothing that must be right rests on it.

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
