// Exercises decode (JPEG and PNG; both DCTs, strict and lenient), every resize, encode and the loader (threads,
// skip and throw, early cancel, close) on the given files, for valgrind's leak check.
// Usage: decode_check FILE...
#include <cstdint>
#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "image/decode.h"
#include "image/jpeg.h"
#include "image/transform.h"
#include "loader/loader.h"

using namespace carclass;

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  if (files.empty()) {
    std::fprintf(stderr, "usage: %s FILE...\n", argv[0]);
    return 2;
  }
  int decoded = 0, failed = 0;
  for (const std::string& file : files) {
    for (image::Dct dct : {image::Dct::Fast, image::Dct::Accurate}) {
      for (bool lenient : {false, true}) {
        try {
          std::vector<uint8_t> encoded;
          image::ReadFile(file, encoded);
          image::RgbImage rgb = image::DecodeImageBytes(encoded.data(), encoded.size(), {dct, lenient, 50'000'000});
          // No row may be 32-byte aligned (libjpeg-turbo would stream it past the cache; jpeg.h).
          for (int y = 0; y < rgb.height; ++y) {
            if (reinterpret_cast<uintptr_t>(rgb.Row(y)) % 32 != 16) {
              std::fprintf(stderr, "%s: row %d is not 16 bytes past a 32-byte boundary\n", file.c_str(), y);
              return 1;
            }
          }
          std::vector<float> out(31 * 45 * 3);
          std::vector<uint8_t> bytes(31 * 45 * 3);
          for (image::Resize r : {image::Resize::CropOrPad, image::Resize::Bilinear, image::Resize::Nearest}) {
            image::Render(rgb, 31, 45, r, image::Preprocess::Caffe, out.data(), nullptr);
            image::Render(rgb, 31, 45, r, image::Preprocess::None, nullptr, bytes.data());
          }
          image::ApplyAugment(out.data(), 31, 45, image::DrawAugment(1, 2, 3, 1.0));
          std::vector<uint8_t> jpeg = image::EncodeJpeg(rgb.Packed().data(), rgb.width, rgb.height, 80);
          image::DecodeJpeg(jpeg.data(), jpeg.size(), {});
          ++decoded;
        } catch (const image::ImageError& e) {
          ++failed;
        }
      }
    }
  }
  int batches = 0;
  for (bool skip : {true, false}) {
    loader::LoaderOptions options;
    options.files = files;
    options.files.push_back("/nonexistent/file.jpg");
    options.batchSize = 3;
    options.height = 40;
    options.width = 56;
    options.threads = 2;
    options.prefetch = 2;
    options.augment = true;
    options.skipErrors = skip;
    options.seed = 7;
    loader::Loader loader(options);
    for (int epoch = 0; epoch < 2; ++epoch) {
      uint64_t token = loader.StartEpoch(epoch);
      try {
        while (BatchPtr batch = loader.Next(token)) ++batches;
      } catch (const std::exception&) {
      }
    }
    uint64_t token = loader.StartEpoch(5);
    try {
      if (loader.Next(token)) ++batches;  // then cancel mid-epoch and close with work queued
    } catch (const std::exception&) {
    }
    loader.Cancel(token);
    // NextAsync: answers come from loader threads (or at once); the last call is still pending
    // when the loader closes, which must answer it.
    token = loader.StartEpoch(6);
    for (;;) {
      std::promise<BatchPtr> answer;
      std::future<BatchPtr> next = answer.get_future();
      loader.NextAsync(token, [&answer](BatchPtr batch, std::exception_ptr error) {
        if (error) answer.set_exception(error);
        else answer.set_value(std::move(batch));
      });
      BatchPtr batch;
      try {
        batch = next.get();
      } catch (const std::exception&) {
        break;
      }
      if (!batch) break;
      ++batches;
    }
    std::promise<BatchPtr> closing;
    std::future<BatchPtr> answered = closing.get_future();
    loader.NextAsync(loader.StartEpoch(7), [&closing](BatchPtr batch, std::exception_ptr) { closing.set_value(std::move(batch)); });
    loader.Close();
    answered.wait();
  }
  std::printf("decode_check: %d decodes ok, %d named errors, %d loader batches\n", decoded, failed, batches);
  return 0;
}
