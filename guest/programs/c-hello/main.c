// A C program as its programmers write it: printf, its arguments and environment, an exit code.
// Exit status: the number of arguments after the program name (so a test can choose it).
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  printf("hello from C, %d argument(s)\n", argc - 1);
  for (int i = 1; i < argc; i++) printf("  argv[%d] = %s\n", i, argv[i]);
  const char *who = getenv("GREETING");
  printf("GREETING=%s\n", who ? who : "(unset)");
  fprintf(stderr, "to stderr: done\n");
  return argc - 1;
}
