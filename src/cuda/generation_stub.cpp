// Built without the CUDA back end: the GPU generation exists as a type, and asking for it is
// the clear error of cuda::require_device().
#include "cuda/device.hpp"
#include "cuda/generation.hpp"

namespace spire::cuda {

struct GenerationRunner::State {};

GenerationRunner::GenerationRunner(std::int64_t, std::span<const float>, std::span<const std::array<double, 3>>, double,
                                   std::int64_t, std::span<const geometry::Quaternion>, bool, const slicing::Options&,
                                   const matching::Options&, GemmPrecision, const merging::Settings&) {
  require_device();
}
GenerationRunner::~GenerationRunner() = default;
GenerationTimes GenerationRunner::slice_and_match(std::span<const double>, std::vector<std::int64_t>&,
                                                  std::vector<float>&) {
  require_device();
  return {};
}
merging::Solution GenerationRunner::merge(std::span<const geometry::Quaternion>, std::span<const double>) {
  require_device();
  return {};
}
phasing::Result<double> GenerationRunner::phase(std::span<const double>, const phasing::Schedule&) {
  require_device();
  return {};
}
std::vector<double> GenerationRunner::autocorrelation_of(std::span<const double>) {
  require_device();
  return {};
}
std::string GenerationRunner::device() const { return describe(); }

}  // namespace spire::cuda
