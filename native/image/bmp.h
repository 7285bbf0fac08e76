// BMP decode (Windows bitmap, no library needed): BITMAPCOREHEADER and BITMAPINFOHEADER..V5; 1/4/8-bit
// palettes, 16-bit (5-5-5 or bit fields), 24-bit BGR, 32-bit (BGRX or bit fields); bottom-up or top-down.
// Alpha is dropped, as for PNG. RLE-compressed files are BMP_UNSUPPORTED.
#pragma once
#include <cstddef>
#include <cstdint>

#include "image/jpeg.h"

namespace carclass::image {

// True when `data` starts with "BM" and is long enough for the file header.
bool IsBmp(const uint8_t* data, size_t size);

// Decodes into `out`. Errors: BMP_CORRUPT (bad header, sizes or palette), BMP_UNSUPPORTED (RLE, JPEG/PNG
// inside a BMP, odd bit depths), BMP_TRUNCATED (pixel data ends early; lenient keeps the rows present and
// leaves the rest 0), BMP_TOO_LARGE (over maxPixels, from the header, before allocating).
void DecodeBmp(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out);

}  // namespace carclass::image
