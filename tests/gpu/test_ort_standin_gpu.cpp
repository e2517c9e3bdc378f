#include "test_support.h"
int main(int argc, char** argv) {
  return etrt_test::run_all(/*needs_gpu=*/true, argc, argv);
}
