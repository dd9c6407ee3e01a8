// Ferry guest SDK for AssemblyScript: the guest side of docs/continuation-abi.md (ABI v1).
// Guests import it as "../sdk" and must re-export `ferry_continuation` from their entry file.

// ---- Host imports (module "ferry"). Only `yield` is ever unwound through by Asyncify. ----

@external("ferry", "yield")
declare function ferry_yield(): void;
@external("ferry", "checkpoint")
declare function ferry_checkpoint(): i32;
@external("ferry", "log")
declare function ferry_log(ptr: usize, len: i32): void;
@external("ferry", "input_size")
declare function ferry_input_size(): i32;
@external("ferry", "input_read")
declare function ferry_input_read(dst: usize, offset: i32, len: i32): i32;
@external("ferry", "output_write")
declare function ferry_output_write(src: usize, len: i32): void;

// ---- Continuation struct layout (must match runtime/exec/continuation.ts). ----

/** `F R R Y` read as a little-endian u32. */
export const CONTINUATION_MAGIC: u32 = 0x59525246;
export const CONTINUATION_ABI_VERSION: u16 = 1;
export const CONTINUATION_HEADER_BYTES: i32 = 96;
/** Asyncify stack buffer that follows the header; bounds how deep a paused call stack may be. */
export const CONTINUATION_STACK_BYTES: i32 = 64 * 1024;

const OFFSET_RESUME_LABEL: usize = 12;
const OFFSET_STACK_CAPACITY: usize = 24;

// The header is a static data segment, so it is in memory at instantiation, before any guest
// code (including the start function) runs. Words: magic, abi_version | header_size << 16,
// state, resume_label, asyncify_current, asyncify_end, stack_capacity, then zeros to 96 bytes.
// The stack buffer must directly follow the header. `memory.data` segments are laid out in the
// order they are created, 16-byte aligned, and both are created while this one expression is
// compiled; the header is 96 bytes (a multiple of 16), so the buffer lands at exactly
// address + 96. The `& 0` keeps the initializer a constant so this stays an immutable global.
/** Address of the continuation struct; exported as an immutable i32 global by every guest. */
export const ferry_continuation: usize =
  memory.data<u32>(
    [
      CONTINUATION_MAGIC,
      <u32>CONTINUATION_ABI_VERSION | (<u32>CONTINUATION_HEADER_BYTES << 16),
      0, 0, 0, 0,
      <u32>CONTINUATION_STACK_BYTES,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ],
    16,
  ) + (memory.data(CONTINUATION_STACK_BYTES, 16) & 0);

// ---- Continuation API. ----

/** A transparent safe point: the host may pause (and migrate) the guest inside this call. */
export function safepoint(): void {
  ferry_yield();
}

/**
 * An explicit continuation point. Returns true when the host wants the guest to stop; `label`
 * is then recorded as resume_label and the caller must return from its entry function at once.
 * Everything else the guest needs to continue must already be in globals or memory.
 */
export function checkpoint(label: i32): bool {
  if (ferry_checkpoint() != 0) {
    store<i32>(ferry_continuation + OFFSET_RESUME_LABEL, label);
    return true;
  }
  return false;
}

/** Where an explicit guest continues: the label of its last checkpoint, 0 = from the start. */
export function resumeLabel(): i32 {
  return load<i32>(ferry_continuation + OFFSET_RESUME_LABEL);
}

/** Set resume_label directly; a guest that finished sets 0 so the next call starts afresh. */
export function setResumeLabel(label: i32): void {
  store<i32>(ferry_continuation + OFFSET_RESUME_LABEL, label);
}

/** Bytes in the Asyncify stack buffer, as recorded in the header. */
export function stackCapacity(): i32 {
  return load<i32>(ferry_continuation + OFFSET_STACK_CAPACITY);
}

// ---- Host I/O. Pointers passed to the host stay valid: nothing allocates during the call. ----

/** One UTF-8 log line. */
export function log(msg: string): void {
  const bytes = String.UTF8.encode(msg);
  ferry_log(changetype<usize>(bytes), bytes.byteLength);
}

/** Size of the instance's input in bytes. */
export function inputSize(): i32 {
  return ferry_input_size();
}

/** The whole input. `input_read` may return fewer bytes than asked, so read until done. */
export function readInput(): Uint8Array {
  const size = ferry_input_size();
  const bytes = new Uint8Array(size);
  let offset = 0;
  while (offset < size) {
    const n = ferry_input_read(bytes.dataStart + <usize>offset, offset, size - offset);
    if (n <= 0) break;
    offset += n;
  }
  // A short read means the input shrank under us; never expose the unread zeros.
  return offset == size ? bytes : bytes.slice(0, offset);
}

/** The whole input decoded as UTF-8. */
export function readInputString(): string {
  // readInput's array always owns its whole buffer, and passing the buffer keeps it reachable.
  return String.UTF8.decode(readInput().buffer);
}

/** Append bytes to the instance's output. */
export function writeOutput(bytes: Uint8Array): void {
  ferry_output_write(bytes.dataStart, bytes.length);
}

/** Append a string to the output as UTF-8. */
export function writeString(s: string): void {
  const bytes = String.UTF8.encode(s);
  ferry_output_write(changetype<usize>(bytes), bytes.byteLength);
}
