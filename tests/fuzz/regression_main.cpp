// Runs the fuzz target's entry point (fuzz_blob.cpp) over files, without libFuzzer:
// ctest's fuzz_blob_regressions runs it over tests/fuzz/regressions/ (inputs the
// fuzzer found, kept after their fix) with AddressSanitizer and
// UndefinedBehaviorSanitizer where the compiler has them.
//
//   fuzz_blob_regressions DIR_OR_FILE...
//
// A finding aborts (the target traps on a broken contract, the sanitizers on
// memory errors); otherwise prints how many inputs ran and exits 0. An empty set
// of inputs is a failure: the test would check nothing.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void collect(const std::string& path, std::vector<std::string>& out) {
  if (!is_dir(path)) {
    out.push_back(path);
    return;
  }
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) {
    return;
  }
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.' || name == "README.md") {
      continue;
    }
    collect(path + "/" + name, out);
  }
  closedir(dir);
}

} // namespace

int main(int argc, char** argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    collect(argv[i], files);
  }
  size_t ran = 0;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", f.c_str());
      return 1;
    }
    // A heap copy of exactly the file's size, as libFuzzer passes it: reading one
    // byte past the end is an ASan report.
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    std::vector<uint8_t> exact(bytes.begin(), bytes.end());
    exact.shrink_to_fit();
    std::printf("running %s (%zu bytes)\n", f.c_str(), exact.size());
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
    ++ran;
  }
  std::printf("%zu input(s) ran clean\n", ran);
  return ran > 0 ? 0 : 1;
}
