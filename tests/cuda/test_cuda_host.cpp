// The CUDA back end's host-side logic, on any machine (no GPU needed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.hpp"
#include "cuda/device.hpp"
#include "cuda/generation.hpp"
#include "cuda/layout.hpp"
#include "nufft/nufft.hpp"
#include "reconstruct/reconstruct.hpp"
#include "reconstruct/settings.hpp"

using namespace spire;

TEST(CudaLayout, SameKernelFineGridAndCorrectionAsTheCpuNufft) {
  for (double tol : {1e-2, 1e-4, 1e-5, 1e-6}) {
    for (std::array<std::int64_t, 3> modes : {std::array<std::int64_t, 3>{81, 81, 81}, {161, 161, 161}, {16, 17, 9}}) {
      nufft::Options o;
      o.planning = Planning::estimate;
      o.threads = 1;
      const nufft::Plan<float> cpu(1, modes, -1, tol, o);
      const auto l = cuda::make_nufft_layout(1, modes, -1, tol);
      EXPECT_EQ(l.nf, cpu.fine_grid());
      EXPECT_EQ(l.kernel.width, cpu.kernel().width);
      EXPECT_EQ(l.kernel.beta, cpu.kernel().beta);
      for (int d = 0; d < 3; ++d) {
        const auto psihat = nufft::kernel_fourier_series(l.kernel, l.nf[d], modes[d]);
        ASSERT_EQ(static_cast<std::int64_t>(l.correction[d].size()), modes[d]);
        for (std::int64_t i = 0; i < modes[d]; ++i) {
          const double want = 1.0 / psihat[static_cast<std::size_t>(std::llabs(i - modes[d] / 2))];
          EXPECT_NEAR(l.correction[d][static_cast<std::size_t>(i)], want, 1e-6 * want);
        }
      }
    }
  }
}

TEST(CudaLayout, BinsCoverTheFineGridAndSubgridsFitSharedMemory) {
  for (double tol : {1e-1, 1e-3, 1e-5, 1e-6, 1e-7}) {
    const auto l = cuda::make_nufft_layout(2, {81, 81, 81}, 1, tol);
    EXPECT_TRUE(l.shared_spread) << "width " << l.kernel.width;
    EXPECT_LE(l.shared_bytes, cuda::kSharedLimit);
    for (int d = 0; d < 3; ++d) {
      EXPECT_GE(std::int64_t{l.bin_size[d]} * l.bin_count[d], l.nf[d]);
      EXPECT_LT(std::int64_t{l.bin_size[d]} * (l.bin_count[d] - 1), l.nf[d]);
      EXPECT_EQ(l.subgrid[d], l.bin_size[d] + l.kernel.width + 1);
    }
    EXPECT_EQ(l.shared_bytes, static_cast<std::size_t>(l.subgrid[0]) * l.subgrid[1] * l.subgrid[2] * 8);
  }
  // Too little shared memory: global atomics, still binned.
  const auto l = cuda::make_nufft_layout(1, {81, 81, 81}, -1, 1e-6, 2.0, 1024);
  EXPECT_FALSE(l.shared_spread);
  EXPECT_EQ(l.shared_bytes, 0u);
  EXPECT_GT(l.n_bins(), 1);
}

TEST(CudaLayout, RejectsWhatTheCpuRejects) {
  EXPECT_THROW(cuda::make_nufft_layout(3, {8, 8, 8}, 1, 1e-5), Error);
  EXPECT_THROW(cuda::make_nufft_layout(1, {8, 8, 8}, 0, 1e-5), Error);
  EXPECT_THROW(cuda::make_nufft_layout(1, {8, 0, 8}, 1, 1e-5), Error);
  EXPECT_THROW(cuda::make_nufft_layout(1, {8, 8, 8}, 1, 1e-9), Error);  // below float's reach
}

TEST(CudaSubproblems, EveryPointOnceInOrderAndNoneTooLarge) {
  const std::vector<std::int32_t> counts = {0, 5, 1024, 1025, 0, 3000, 1, 0};
  for (int max_points : {1, 7, 1024}) {
    const auto subs = cuda::split_bins(counts, max_points);
    std::int64_t next = 0;
    std::vector<std::int64_t> per_bin(counts.size(), 0);
    for (const auto& s : subs) {
      EXPECT_EQ(s.first, next);  // consecutive, in bin order, no gaps
      EXPECT_GE(s.count, 1);
      EXPECT_LE(s.count, max_points);
      next += s.count;
      per_bin[static_cast<std::size_t>(s.bin)] += s.count;
    }
    std::int64_t total = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
      EXPECT_EQ(per_bin[b], counts[b]);
      total += counts[b];
    }
    EXPECT_EQ(next, total);
  }
  EXPECT_THROW(cuda::split_bins(counts, 0), Error);
  EXPECT_TRUE(cuda::split_bins(std::vector<std::int32_t>{0, 0}, 4).empty());
}

// The double-buffered slicing -> matching pipeline: replayed in issue order, a buffer is
// never written by slicing while a batch still to be matched holds it.
TEST(CudaPipeline, NoBufferIsOverwrittenBeforeItsBatchIsMatched) {
  for (int buffers : {1, 2, 3}) {
    for (std::int64_t n : {0, 1, 2, 5, 10}) {
      const auto steps = cuda::pipeline_schedule(n, buffers);
      ASSERT_EQ(static_cast<std::int64_t>(steps.size()), n);
      std::vector<std::int64_t> holder(static_cast<std::size_t>(buffers), -1);  // batch whose slices a buffer holds
      std::set<std::int64_t> matched;
      for (const auto& s : steps) {
        EXPECT_EQ(s.buffer, s.batch % buffers);
        const std::int64_t previous = holder[static_cast<std::size_t>(s.buffer)];
        // Slicing into the buffer must wait for the matching of its previous holder.
        EXPECT_EQ(s.slice_waits_for, previous);
        if (previous >= 0) {
          EXPECT_TRUE(matched.count(previous));  // issued before: its matching is queued to finish first
        }
        holder[static_cast<std::size_t>(s.buffer)] = s.batch;
        matched.insert(s.batch);
      }
    }
  }
  EXPECT_THROW(cuda::pipeline_schedule(3, 0), Error);
}

TEST(CudaSettings, GemmPrecisionNamesAndTheCpuRefusesTf32) {
  EXPECT_EQ(value_of(matching::kGemmPrecisionNames, "fp32"), cuda::GemmPrecision::fp32);
  EXPECT_EQ(value_of(matching::kGemmPrecisionNames, "tf32"), cuda::GemmPrecision::tf32);
  EXPECT_EQ(value_of(matching::kGemmPrecisionNames, "3xtf32"), cuda::GemmPrecision::tf32x3);
  EXPECT_FALSE(value_of(matching::kGemmPrecisionNames, "fp16"));
  EXPECT_THROW(reconstruct::load_settings("", {"orientations.gemm=fp16"}), Error);
  const auto st = reconstruct::load_settings("", {"orientations.gemm=tf32"});
  EXPECT_EQ(st.orientations.gemm, cuda::GemmPrecision::tf32);
  try {
    reconstruct::check_backend(st, 1);
    FAIL() << "tf32 on the CPU was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("runtime.device = cuda"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(reconstruct::check_backend(reconstruct::load_settings("", {}), 1));
}

// runtime.device = cuda where there is no GPU (or no CUDA in the build): a clear error
// before any work, from the settings check and from the loop itself.
TEST(CudaSettings, CudaWithoutADeviceFailsAtOnceWithTheReason) {
  if (cuda::device_count() > 0) GTEST_SKIP() << "a GPU is present: " << cuda::describe();
  const auto st = reconstruct::load_settings("", {"runtime.device=cuda", "grid.n=5", "orientations.references=10"});
  // The settings' errors name the setting; the back end's own name what is missing.
  auto expect_clear = [](const std::function<void()>& f, const char* names = "CUDA back end") {
    try {
      f();
      FAIL() << "no error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(names), std::string::npos) << m;
      EXPECT_TRUE(m.find("no CUDA device") != std::string::npos || m.find("without the CUDA back end") != std::string::npos) << m;
    }
  };
  expect_clear([&] { reconstruct::check_backend(st, 1); }, "runtime.device = cuda");
  reconstruct::Data d;
  d.n_images = 2;
  d.n_pixels = 3;
  d.images.assign(6, 1.0f);
  d.pixels = {{0.1, 0, 0}, {0, 0.1, 0}, {0, 0, 0.1}};
  reconstruct::prepare(d);
  expect_clear([&] { reconstruct::run(d, st); }, "runtime.device = cuda");
  expect_clear([] { cuda::DeviceBuffer<float> b(16); });
  expect_clear([] { cuda::Stream s; });
  EXPECT_FALSE(cuda::describe().empty());
}

TEST(CudaSettings, BuildReportsTheBackEnd) {
#ifdef SPIRE_HAVE_CUDA
  EXPECT_TRUE(cuda::built());
#else
  EXPECT_FALSE(cuda::built());
  EXPECT_EQ(cuda::device_count(), 0);
#endif
}
