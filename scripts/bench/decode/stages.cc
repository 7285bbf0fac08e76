// Microseconds per image for each stage of the loader's crop_or_pad + tf path, in one process, on
// the calling thread, files taken in turn (built and run by stages.sh):
//   decode        DecodeJpegCenterRows from memory (libjpeg-turbo's work)
//   + render      ... + crop_or_pad + tf into a float32 batch slot (streaming stores)
//   + read        ... + reading the file (the loader's whole per-image work)
//   loader        the native Loader, 1 worker thread, batches of 32, no Node
// Medians of 7 rounds, alternating stages so that background load hits all of them alike.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "image/jpeg.h"
#include "image/transform.h"
#include "loader/loader.h"

using namespace carclass;
using Clock = std::chrono::steady_clock;

namespace {
constexpr int kHeight = 212, kWidth = 320, kBatch = 32, kImages = 1536, kRounds = 7;

double Seconds(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: stages FILE...\n");
    return 2;
  }
  const std::vector<std::string> names(argv + 1, argv + argc);
  std::vector<std::vector<uint8_t>> files(names.size());
  for (size_t i = 0; i < names.size(); ++i) image::ReadFile(names[i], files[i]);
  std::vector<float> batch(size_t(kBatch) * kHeight * kWidth * 3);
  std::vector<uint8_t> bytes;
  image::RgbImage decoded;
  const image::DecodeOptions options;

  loader::LoaderOptions loaderOptions;
  loaderOptions.batchSize = kBatch;
  loaderOptions.height = kHeight;
  loaderOptions.width = kWidth;
  loaderOptions.shuffle = false;
  loaderOptions.threads = 1;
  loaderOptions.prefetch = 4;
  for (int i = 0; i < kImages; ++i) loaderOptions.files.push_back(names[size_t(i) % names.size()]);
  loader::Loader loader(loaderOptions);

  const char* stages[] = {"decode", "+ render", "+ read", "loader"};
  std::vector<double> micros[4];
  for (int round = 0; round <= kRounds; ++round) {
    for (int stage = 0; stage < 4; ++stage) {
      const auto start = Clock::now();
      if (stage == 3) {
        const uint64_t token = loader.StartEpoch(round);
        while (BatchPtr b = loader.Next(token)) {
        }
      } else {
        for (int i = 0; i < kImages; ++i) {
          const size_t f = size_t(i) % files.size();
          const std::vector<uint8_t>* data = &files[f];
          if (stage == 2) {
            image::ReadFile(names[f], bytes);
            data = &bytes;
          }
          image::DecodeJpegCenterRows(data->data(), data->size(), options, kHeight, decoded);
          if (stage >= 1) {
            float* slot = batch.data() + size_t(i % kBatch) * kHeight * kWidth * 3;
            image::Render(decoded, kHeight, kWidth, image::Resize::CropOrPad, image::Preprocess::Tf, slot, nullptr);
          }
        }
      }
      if (round > 0) micros[stage].push_back(Seconds(start) * 1e6 / kImages);  // round 0 warms up
    }
  }
  for (int stage = 0; stage < 4; ++stage) {
    std::sort(micros[stage].begin(), micros[stage].end());
    const double median = micros[stage][micros[stage].size() / 2];
    std::printf("%-9s %7.1f us/image  %7.0f img/s\n", stages[stage], median, 1e6 / median);
  }
  return 0;
}
