// The guest of bench/resource-migration.ts: a WASI program that holds one file of its resource
// directory open and reads it in 4 KiB pieces for ever (back to the start at its end), as a stdio
// reader does, summing each piece's words (a little work per piece, so it is a running program and
// not only I/O), and writes one byte to stdout per piece: its output growing is its progress. Hand
// written WAT rather than a C program: it needs no toolchain and no entry in guest/programs, and
// every call it makes is in plain sight.

/** The file it reads, in the directory preopened at /data (fd 3). */
export const SCAN_FILE = "big.bin";
/** Bytes per fd_read. */
export const SCAN_PIECE_BYTES = 4096;

// Memory: 0 read iovec {1024, 4096}; 8 nread; 16 the opened fd; 24 write iovec {64, 1}; 32 nwritten;
// 40 fd_seek's new offset (8 bytes); 64 the progress byte; 200 the path; 1024.. the piece.
export const SCAN_WAT = `(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\00\\04\\00\\00\\00\\10\\00\\00")
  (data (i32.const 24) "\\40\\00\\00\\00\\01\\00\\00\\00")
  (data (i32.const 64) ".")
  (data (i32.const 200) "${SCAN_FILE}")
  (global $sum (mut i32) (i32.const 0))
  (func (export "_start")
    (local $fd i32) (local $n i32) (local $i i32)
    ;; rights: fd_read (2) | fd_seek (4)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const ${SCAN_FILE.length})
          (i32.const 0) (i64.const 6) (i64.const 0) (i32.const 0) (i32.const 16))
      (then (call $proc_exit (i32.const 2))))
    (local.set $fd (i32.load (i32.const 16)))
    (loop $piece
      (if (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
        (then (call $proc_exit (i32.const 3))))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.eqz (local.get $n))
        (then
          (if (call $fd_seek (local.get $fd) (i64.const 0) (i32.const 0) (i32.const 40))
            (then (call $proc_exit (i32.const 4))))
          (br $piece)))
      (local.set $i (i32.const 0))
      (loop $word
        (global.set $sum (i32.add (global.get $sum) (i32.load offset=1024 (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br_if $word (i32.lt_u (local.get $i) (local.get $n))))
      (drop (call $fd_write (i32.const 1) (i32.const 24) (i32.const 1) (i32.const 32)))
      (br $piece)))
)`;
