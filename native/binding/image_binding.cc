// decodeImage / encodeJpeg: Promise-returning wrappers over native/image (work runs off the main thread).
#include <cstring>
#include <memory>

#include "binding/common.h"
#include "image/decode.h"
#include "image/jpeg.h"
#include "image/random.h"
#include "image/transform.h"

namespace carclass {

namespace {

struct DecodedImage {
  int height = 0, width = 0;
  bool isUint8 = true;
  std::vector<uint8_t> bytes;
  std::vector<float> floats;
};

// decodeImage(pathOrBuffer, { height?, width?, resize, preprocess, dct, lenient, maxPixels })
Napi::Value DecodeImage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "decodeImage(input, options)");
  Napi::Object options = info[1].As<Napi::Object>();
  std::string path;
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  if (info[0].IsString()) {
    path = info[0].As<Napi::String>().Utf8Value();
  } else if (info[0].IsTypedArray() || info[0].IsBuffer()) {
    Napi::Uint8Array array = info[0].As<Napi::Uint8Array>();
    bytes->assign(array.Data(), array.Data() + array.ByteLength());  // the JS buffer may change while we decode
  } else {
    throw Napi::TypeError::New(env, "Expected a path string or a Buffer for input");
  }
  image::DecodeOptions decode;
  decode.lenient = GetBool(options, "lenient", false);
  decode.maxPixels = GetInt(options, "maxPixels", decode.maxPixels);
  decode.maxFileBytes = GetInt(options, "maxFileBytes", decode.maxFileBytes);
  const int height = int(GetInt(options, "height", 0)), width = int(GetInt(options, "width", 0));
  image::Resize resize;
  image::Preprocess preprocess;
  try {
    decode.dct = image::ParseDct(GetString(options, "dct", "fast"));
    resize = image::ParseResize(GetString(options, "resize", "crop_or_pad"));
    preprocess = image::ParsePreprocess(GetString(options, "preprocess", "none"));
  } catch (const image::ImageError& e) {
    throw Napi::TypeError::New(env, e.reason());
  }
  return RunAsync<DecodedImage>(
      env,
      [=]() {
        if (!path.empty()) image::ReadFile(path, *bytes, decode.maxFileBytes);
        image::RgbImage rgb = image::DecodeImageBytes(bytes->data(), bytes->size(), decode);
        DecodedImage out;
        out.height = height > 0 ? height : rgb.height;
        out.width = width > 0 ? width : rgb.width;
        out.isUint8 = preprocess == image::Preprocess::None;
        const size_t values = size_t(out.height) * out.width * 3;
        if (out.isUint8 && out.height == rgb.height && out.width == rgb.width) {
          out.bytes = rgb.Packed();
          return out;
        }
        if (out.isUint8) out.bytes.resize(values);
        else out.floats.resize(values);
        image::Render(rgb, out.height, out.width, resize, preprocess, out.floats.data(), out.bytes.data());
        return out;
      },
      [](Napi::Env env, DecodedImage& image) -> Napi::Value {
        Napi::Object result = Napi::Object::New(env);
        if (image.isUint8) {
          auto array = Napi::Uint8Array::New(env, image.bytes.size());
          std::memcpy(array.Data(), image.bytes.data(), image.bytes.size());
          result.Set("data", array);
        } else {
          auto array = Napi::Float32Array::New(env, image.floats.size());
          std::memcpy(array.Data(), image.floats.data(), image.floats.size() * sizeof(float));
          result.Set("data", array);
        }
        Napi::Array shape = Napi::Array::New(env, 3);
        shape.Set(0u, image.height);
        shape.Set(1u, image.width);
        shape.Set(2u, 3);
        result.Set("shape", shape);
        return result;
      });
}

// encodeJpeg(rgb: Uint8Array, width, height, quality) -> Promise<Buffer>
Napi::Value EncodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    throw Napi::TypeError::New(env, "encodeJpeg(rgb, width, height, quality)");
  }
  Napi::Uint8Array array = info[0].As<Napi::Uint8Array>();
  const int width = info[1].As<Napi::Number>().Int32Value(), height = info[2].As<Napi::Number>().Int32Value();
  const int quality = info[3].As<Napi::Number>().Int32Value();
  if (array.ByteLength() != size_t(width) * size_t(height) * 3) {
    throw Napi::RangeError::New(env, "rgb must hold width * height * 3 bytes");
  }
  auto rgb = std::make_shared<std::vector<uint8_t>>(array.Data(), array.Data() + array.ByteLength());
  return RunAsync<std::vector<uint8_t>>(
      env, [=]() { return image::EncodeJpeg(rgb->data(), width, height, quality); },
      [](Napi::Env env, std::vector<uint8_t>& jpeg) -> Napi::Value {
        return Napi::Buffer<uint8_t>::Copy(env, jpeg.data(), jpeg.size());
      });
}

// Test hook: augmentation draws for indices [start, start + count): Float64Array of
// (applied, flip, brightness, contrast) per index.
Napi::Value AugmentDraws(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t seed = uint64_t(info[0].As<Napi::Number>().DoubleValue());
  const int64_t epoch = info[1].As<Napi::Number>().Int64Value();
  const int64_t start = info[2].As<Napi::Number>().Int64Value();
  const int64_t count = info[3].As<Napi::Number>().Int64Value();
  const double p = info[4].As<Napi::Number>().DoubleValue();
  auto out = Napi::Float64Array::New(env, size_t(count) * 4);
  for (int64_t i = 0; i < count; ++i) {
    image::AugmentDraw d = image::DrawAugment(seed, epoch, start + i, p);
    out[size_t(i) * 4 + 0] = d.applied;
    out[size_t(i) * 4 + 1] = d.flip;
    out[size_t(i) * 4 + 2] = d.brightness;
    out[size_t(i) * 4 + 3] = d.contrast;
  }
  return out;
}

}  // namespace

void InitImage(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeImage", Napi::Function::New(env, DecodeImage, "decodeImage"));
  exports.Set("encodeJpeg", Napi::Function::New(env, EncodeJpeg, "encodeJpeg"));
  exports.Set("augmentDraws", Napi::Function::New(env, AugmentDraws, "augmentDraws"));
}

}  // namespace carclass
