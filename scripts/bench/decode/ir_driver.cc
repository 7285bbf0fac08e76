// Per-image work of the decode paths, for callgrind (instruction counts are noise-free on a shared
// machine). Files are read once and decoded round-robin from memory, like the loader's hot loop.
//   ir_driver MODE PASSES FILE...   MODE: tj | decode | rows | loader-full | loader-rows
#include <turbojpeg.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "image/jpeg.h"
#include "image/transform.h"

using namespace carclass::image;

int main(int argc, char** argv) {
  if (argc < 4) { std::fprintf(stderr, "usage: ir_driver MODE PASSES FILE...\n"); return 2; }
  const std::string mode = argv[1];
  const int passes = std::atoi(argv[2]);
  constexpr int kHeight = 212, kWidth = 320, kBatch = 32;
  std::vector<std::vector<uint8_t>> files;
  for (int i = 3; i < argc; ++i) files.emplace_back(), ReadFile(argv[i], files.back());
  std::vector<float> batch(size_t(kBatch) * kHeight * kWidth * 3);
  std::vector<uint8_t> buffer;
  RgbImage image;
  DecodeOptions options;
  tjhandle handle = tjInitDecompress();
  size_t n = 0;
  for (int pass = 0; pass < passes; ++pass) {
    for (const auto& bytes : files) {
      float* sample = batch.data() + (n++ % kBatch) * size_t(kHeight) * kWidth * 3;
      if (mode == "tj") {  // tjbench-like: header + tjDecompress2 into a reused buffer, one handle
        int width = 0, height = 0, subsamp = 0, colorspace = 0;
        tjDecompressHeader3(handle, bytes.data(), bytes.size(), &width, &height, &subsamp, &colorspace);
        buffer.resize(size_t(width) * height * 3);
        tjDecompress2(handle, bytes.data(), bytes.size(), buffer.data(), width, 0, height, TJPF_RGB, TJFLAG_FASTDCT);
      } else if (mode == "decode" || mode == "loader-full") {
        DecodeJpeg(bytes.data(), bytes.size(), options, image);
        if (mode == "loader-full") Render(image, kHeight, kWidth, Resize::CropOrPad, Preprocess::Tf, sample, nullptr);
      } else if (mode == "rows" || mode == "loader-rows") {
        DecodeJpegCenterRows(bytes.data(), bytes.size(), options, kHeight, image);
        if (mode == "loader-rows") Render(image, kHeight, kWidth, Resize::CropOrPad, Preprocess::Tf, sample, nullptr);
      } else {
        std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
        return 2;
      }
    }
  }
  tjDestroy(handle);
  std::printf("%zu images, checksum %f\n", n, double(batch[12345]));
  return 0;
}
