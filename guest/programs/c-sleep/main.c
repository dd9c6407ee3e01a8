// Sleeps between ticks with nanosleep: the program a host must pause without burning CPU, and wake
// at its deadline. Usage: c-sleep [ticks] [ms per tick]; prints each tick and the total it slept
// by the monotonic clock (at least ticks × ms).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  int ticks = argc > 1 ? atoi(argv[1]) : 3;
  int ms = argc > 2 ? atoi(argv[2]) : 10;
  long long start = now_ns();
  for (int i = 1; i <= ticks; i++) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
    printf("tick %d\n", i);
  }
  long long slept_ms = (now_ns() - start) / 1000000LL;
  printf("slept at least %d ms: %s\n", ticks * ms, slept_ms >= (long long)ticks * ms ? "yes" : "no");
  return 0;
}
