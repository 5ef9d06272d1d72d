#pragma once

namespace tsrt::detail {

/// Applies the count that set_intra_op_threads chose to the calling thread, once a
/// thread; nothing when none was chosen. at::set_num_threads sets OpenMP's and MKL's
/// thread counts for the thread it runs on only (and turns MKL's dynamic choice off
/// for the whole process). A thread that calls MKL directly, as Linear's sgemm does,
/// without entering at::parallel_for (which would apply the count) keeps OpenMP's
/// default team of every core, and MKL then uses all of it even for one row: with
/// --intra-op-threads 1, tsrt_serve's HTTP threads spun in OpenMP barriers for 11 ms
/// a request (0.3 ms of work) on a busy 2-core machine.
void apply_intra_op_threads();

}  // namespace tsrt::detail
