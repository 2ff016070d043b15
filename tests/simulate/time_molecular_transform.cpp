// Throughput of MolecularTransform: F at `images` x 128 x 128 points (random points in the
// |s_d| <= 0.1 1/A cube; the cost does not depend on where they fall), in batches of
// `batch` images as a simulator calls it.
//   time_molecular_transform [images=1000] [float|double] [tolerance] [batch=100] [pdb]
#include <omp.h>

#include <chrono>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "simulate/pdb.hpp"
#include "simulate/transform.hpp"

namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
void run(const std::vector<spire::simulate::Atom>& atoms, std::int64_t images, double tol,
         std::int64_t batch) {
  constexpr std::int64_t pixels = 128 * 128;
  constexpr double s_max = 0.1;
  const std::int64_t n = batch * pixels;
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<T> u(static_cast<T>(-s_max), static_cast<T>(s_max));
  std::vector<T> x(n), y(n), z(n);
  for (std::int64_t i = 0; i < n; ++i) x[i] = u(rng), y[i] = u(rng), z[i] = u(rng);
  std::vector<std::complex<T>> F(n);

  auto t0 = Clock::now();
  spire::simulate::MolecularTransform<T> transform(atoms, s_max, tol);
  const double plan_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  for (std::int64_t done = 0; done < images; done += batch)
    transform.evaluate(n, x.data(), y.data(), z.data(), F.data());
  const double eval_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double points = static_cast<double>((images + batch - 1) / batch * n);
  const auto g = transform.grid_size();
  std::printf(
      "%zu atoms, %zu species (%d NUFFT components), %s, tol %g, grid %lldx%lldx%lld, %d threads: plan %.3f s, "
      "%.3g points in %.2f s = %.3g points/s\n",
      atoms.size(), transform.species().size(), transform.components(), sizeof(T) == 4 ? "float" : "double", tol,
      static_cast<long long>(g[0]), static_cast<long long>(g[1]), static_cast<long long>(g[2]),
      omp_get_max_threads(), plan_s, points, eval_s, points / eval_s);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t images = argc > 1 ? std::atoll(argv[1]) : 1000;
  const bool single = argc > 2 ? std::string(argv[2]) != "double" : true;
  const double tol = argc > 3 ? std::atof(argv[3]) : (single ? 1e-5 : 1e-9);
  const std::int64_t batch = argc > 4 ? std::atoll(argv[4]) : 100;
  const std::string pdb = argc > 5 ? argv[5] : SPIRE_SHARED_DATA "/2cex.pdb";
  const auto atoms = std::filesystem::exists(pdb) ? spire::simulate::read_pdb(pdb)
                                                  : spire::simulate::built_in_molecule();
  if (single)
    run<float>(atoms, images, tol, batch);
  else
    run<double>(atoms, images, tol, batch);
}
