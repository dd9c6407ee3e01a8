// Reads a file, compresses it with a small LZ77 compressor (written here: greedy matches found
// through a hash of the next 4 bytes, a window of 64 KiB), writes the result, then reads it back,
// decompresses and checks it is the input. Usage: c-lz <input> <output>. Prints the sizes and an
// FNV-1a checksum of the input; exit status 0 when the round trip holds, 1 when it does not, 2 on
// an I/O error. Files are read and written in 4 KiB pieces, as stdio does.
//
// Format (the LZ4 block layout, written from its description): a sequence of tokens. A token byte
// holds the literal count (high 4 bits) and the match length minus 4 (low 4 bits); a nibble of 15
// is continued by bytes of 255 and one below it. The literals follow, then a 2-byte little-endian
// distance back (1..65535). The last token has literals only.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 65535
#define MIN_MATCH 4
#define HASH_BITS 14

static unsigned char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  unsigned char *buf = malloc(cap);
  size_t got;
  while ((got = fread(buf + n, 1, 4096, f)) > 0) {
    n += got;
    if (cap - n < 4096) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  *size = n;
  return buf;
}

static uint32_t hash4(const unsigned char *p) {
  uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return (v * 2654435761u) >> (32 - HASH_BITS);
}

static void put_length(unsigned char *out, size_t *o, size_t rest) {
  while (rest >= 255) {
    out[(*o)++] = 255;
    rest -= 255;
  }
  out[(*o)++] = (unsigned char)rest;
}

/** One token: `lits` literals from `lit`, then (when len > 0) a match of `len` bytes `dist` back. */
static void emit(unsigned char *out, size_t *o, const unsigned char *lit, size_t lits, size_t dist, size_t len) {
  size_t m = len ? len - MIN_MATCH : 0;
  out[(*o)++] = (unsigned char)((lits < 15 ? lits : 15) << 4 | (m < 15 ? m : 15));
  if (lits >= 15) put_length(out, o, lits - 15);
  memcpy(out + *o, lit, lits);
  *o += lits;
  if (!len) return;
  out[(*o)++] = (unsigned char)(dist & 0xff);
  out[(*o)++] = (unsigned char)(dist >> 8);
  if (m >= 15) put_length(out, o, m - 15);
}

static size_t compress(const unsigned char *in, size_t n, unsigned char *out) {
  static long head[1 << HASH_BITS];
  for (size_t i = 0; i < (1u << HASH_BITS); i++) head[i] = -1;
  size_t o = 0, i = 0, lit_start = 0;
  while (i + MIN_MATCH <= n) {
    uint32_t h = hash4(in + i);
    long cand = head[h];
    head[h] = (long)i;
    size_t len = 0;
    if (cand >= 0 && i - (size_t)cand <= WINDOW) {
      while (i + len < n && in[cand + len] == in[i + len]) len++;
    }
    if (len >= MIN_MATCH) {
      emit(out, &o, in + lit_start, i - lit_start, i - (size_t)cand, len);
      for (size_t k = 1; k < len && i + k + MIN_MATCH <= n; k++) head[hash4(in + i + k)] = (long)(i + k);
      i += len;
      lit_start = i;
    } else {
      i++;
    }
  }
  emit(out, &o, in + lit_start, n - lit_start, 0, 0);
  return o;
}

static int get_length(const unsigned char *in, size_t n, size_t *i, size_t *len) {
  unsigned char b;
  do {
    if (*i >= n) return 0;
    b = in[(*i)++];
    *len += b;
  } while (b == 255);
  return 1;
}

static size_t decompress(const unsigned char *in, size_t n, unsigned char *out, size_t cap) {
  size_t i = 0, o = 0;
  while (i < n) {
    unsigned char token = in[i++];
    size_t lits = token >> 4, len = token & 15;
    if (lits == 15 && !get_length(in, n, &i, &lits)) return (size_t)-1;
    if (i + lits > n || o + lits > cap) return (size_t)-1;
    memcpy(out + o, in + i, lits);
    o += lits;
    i += lits;
    if (i == n) break; // the last token: literals only
    if (i + 2 > n) return (size_t)-1;
    size_t dist = (size_t)in[i] | (size_t)in[i + 1] << 8;
    i += 2;
    if (len == 15 && !get_length(in, n, &i, &len)) return (size_t)-1;
    len += MIN_MATCH;
    if (dist == 0 || dist > o || o + len > cap) return (size_t)-1;
    for (size_t k = 0; k < len; k++, o++) out[o] = out[o - dist];
  }
  return o;
}

static uint32_t fnv1a(const unsigned char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: c-lz <input> <output>\n");
    return 2;
  }
  size_t n;
  unsigned char *in = read_all(argv[1], &n);
  if (!in) {
    perror(argv[1]);
    return 2;
  }
  // Worst case: a token and a distance (3 bytes) for every 4-byte match, or literals with one byte
  // per 255 of count: twice the input always holds it.
  unsigned char *packed = malloc(2 * n + 16);
  size_t m = compress(in, n, packed);
  FILE *f = fopen(argv[2], "wb");
  if (!f) {
    perror(argv[2]);
    return 2;
  }
  for (size_t off = 0; off < m; off += 4096) fwrite(packed + off, 1, m - off < 4096 ? m - off : 4096, f);
  fclose(f);

  size_t back_n;
  unsigned char *back = read_all(argv[2], &back_n);
  unsigned char *plain = malloc(n + 1);
  size_t got = back ? decompress(back, back_n, plain, n) : (size_t)-1;
  int same = got == n && memcmp(plain, in, n) == 0;
  printf("%s: %zu bytes, fnv1a %08x\n", argv[1], n, fnv1a(in, n));
  printf("%s: %zu bytes (%.1f%%)\n", argv[2], m, n ? 100.0 * (double)m / (double)n : 0.0);
  printf("round trip: %s\n", same ? "identical" : "DIFFERENT");
  return same ? 0 : 1;
}
