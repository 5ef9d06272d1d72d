/* The machine's float32 peak: fused multiply-adds on every OpenMP thread, nothing else.

   Each thread keeps 12 independent vector accumulators in registers (enough to cover
   the FMA latency on two FMA pipes), so the loop runs at the FMA units' throughput.
   The vectors are as wide as the compiler targets (-march=native): 16 floats where
   AVX-512 exists, else 8 (AVX2). Prints the best of five runs in GFLOP/s (2 per FMA
   lane), for bench_compare's lower bound on a model's time (scripts/roofline.py).

   cc -O2 -march=native -fopenmp fma_peak.c -o fma_peak && OMP_NUM_THREADS=2 ./fma_peak */

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
#define LANES 16
#else
#define LANES 8
#endif
#define ACCUMULATORS 12

typedef float vector __attribute__((vector_size(LANES * sizeof(float))));

static double seconds_now(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec + now.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 20000000L;
  double best = 0.0;
  float sink = 0.0f;  /* printed, so the compiler keeps the work */
  for (int run = 0; run < 5; ++run) {
    double start = seconds_now();
#pragma omp parallel reduction(+ : sink)
    {
      vector accumulators[ACCUMULATORS];
      vector scale, offset;
      for (int lane = 0; lane < LANES; ++lane) {
        scale[lane] = 1.0000001f;
        offset[lane] = 1e-7f;
      }
      for (int i = 0; i < ACCUMULATORS; ++i)
        for (int lane = 0; lane < LANES; ++lane) accumulators[i][lane] = (float)(i + lane);
      for (long k = 0; k < iterations; ++k) {
#pragma GCC unroll 12
        for (int i = 0; i < ACCUMULATORS; ++i) accumulators[i] = accumulators[i] * scale + offset;
      }
      for (int i = 1; i < ACCUMULATORS; ++i) accumulators[0] += accumulators[i];
      sink += accumulators[0][0];
    }
    double elapsed = seconds_now() - start;
    double flops = (double)iterations * ACCUMULATORS * LANES * 2.0 * omp_get_max_threads();
    if (flops / elapsed / 1e9 > best) best = flops / elapsed / 1e9;
  }
  printf("%.2f %d %d %g\n", best, omp_get_max_threads(), LANES, sink);
  return 0;
}
