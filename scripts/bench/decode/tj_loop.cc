// tjbench's decode loop (tjDecompressHeader3 + tjDecompress2, RGB, fast DCT, one handle, one
// reused output buffer, files held in memory), with a choice of access pattern:
//   tj_loop same SECONDS FILE...   each file decoded over and over, as tjbench does; prints the
//                                  set's rate (harmonic mean of the files' rates)
//   tj_loop turn SECONDS FILE...   the files one after another, as a loader meets them
// Prints one number: images per second on the calling thread.
#include <turbojpeg.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Decoder {
  tjhandle handle = tjInitDecompress();
  std::vector<unsigned char> output;
  ~Decoder() { tjDestroy(handle); }
  void Decode(const std::vector<unsigned char>& jpeg) {
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(handle, jpeg.data(), jpeg.size(), &width, &height, &subsampling, &colorspace) != 0 ||
        (output.resize(size_t(width) * height * 3),
         tjDecompress2(handle, jpeg.data(), jpeg.size(), output.data(), width, 0, height, TJPF_RGB, TJFLAG_FASTDCT) != 0)) {
      std::fprintf(stderr, "tj_loop: %s\n", tjGetErrorStr2(handle));
      std::exit(1);
    }
  }
};

// Decodes pick(i) for i = 0, 1, ... for about `seconds` after a short warm-up; images per second.
template <typename Pick>
double Rate(Decoder& decoder, double seconds, Pick pick) {
  for (int i = 0; i < 50; ++i) decoder.Decode(pick(i));
  size_t count = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 64; ++i) decoder.Decode(pick(count++));
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return double(count) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: tj_loop same|turn SECONDS FILE...\n");
    return 2;
  }
  const std::string mode = argv[1];
  const double seconds = std::atof(argv[2]);
  std::vector<std::vector<unsigned char>> files;
  for (int i = 3; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "tj_loop: cannot read %s\n", argv[i]);
      return 1;
    }
    files.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  Decoder decoder;
  double rate = 0;
  if (mode == "same") {
    double secondsPerImage = 0;
    for (const auto& file : files) secondsPerImage += 1.0 / Rate(decoder, seconds / double(files.size()), [&](size_t) -> const auto& { return file; });
    rate = double(files.size()) / secondsPerImage;
  } else if (mode == "turn") {
    rate = Rate(decoder, seconds, [&](size_t i) -> const auto& { return files[i % files.size()]; });
  } else {
    std::fprintf(stderr, "tj_loop: unknown mode %s\n", mode.c_str());
    return 2;
  }
  std::printf("%.1f\n", rate);
  return 0;
}
