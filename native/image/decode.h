// One entry point for every supported format: the file's signature picks the decoder (JPEG, PNG, BMP),
// never its name. Everything after decoding (resize, preprocessing, augmentation) is format-blind.
#pragma once
#include <cstddef>
#include <cstdint>

#include "image/jpeg.h"

namespace carclass::image {

enum class ImageFormat { Jpeg, Png, Bmp, Unknown };

ImageFormat DetectFormat(const uint8_t* data, size_t size);

// Decodes JPEG, PNG or BMP into `out`. Anything else is NOT_JPEG ("not a JPEG, PNG or BMP file").
void DecodeImageBytes(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out);
RgbImage DecodeImageBytes(const uint8_t* data, size_t size, const DecodeOptions& options);

// crop_or_pad's fast path: for a JPEG only the central `maxRows` rows are reconstructed
// (DecodeJpegCenterRows); PNG and BMP are decoded whole.
void DecodeImageBytesCenterRows(const uint8_t* data, size_t size, const DecodeOptions& options, int maxRows, RgbImage& out);

}  // namespace carclass::image
