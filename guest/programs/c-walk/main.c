// Walks a directory tree (opendir / readdir / stat, recursively) and prints every entry with its
// size, sorted by path, then the totals. Usage: c-walk <dir>.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
  char *path;
  long long size;
  int dir;
} Entry;

static Entry *entries;
static size_t count, capacity;

static void add(const char *path, long long size, int dir) {
  if (count == capacity) {
    capacity = capacity ? capacity * 2 : 64;
    entries = realloc(entries, capacity * sizeof(Entry));
  }
  entries[count].path = strdup(path);
  entries[count].size = size;
  entries[count].dir = dir;
  count++;
}

static void walk(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    size_t n = strlen(dir) + strlen(e->d_name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) == 0) {
      int is_dir = S_ISDIR(st.st_mode);
      add(path, is_dir ? 0 : (long long)st.st_size, is_dir);
      if (is_dir) walk(path);
    }
    free(path);
  }
  closedir(d);
}

static int by_path(const void *a, const void *b) { return strcmp(((const Entry *)a)->path, ((const Entry *)b)->path); }

int main(int argc, char **argv) {
  const char *root = argc > 1 ? argv[1] : ".";
  walk(root);
  qsort(entries, count, sizeof(Entry), by_path);
  long long bytes = 0;
  int files = 0, dirs = 0;
  for (size_t i = 0; i < count; i++) {
    if (entries[i].dir) {
      dirs++;
      printf("%s/\n", entries[i].path);
    } else {
      files++;
      bytes += entries[i].size;
      printf("%s %lld\n", entries[i].path, entries[i].size);
    }
  }
  printf("%d files, %d directories, %lld bytes\n", files, dirs, bytes);
  return 0;
}
