/* -*- c++ -*- ----------------------------------------------------------
   mdsentry - fix sentry: the extrapolation watch

   Every N steps classifies the current frame by its deviation:
     value < lo         trusted
     lo <= value < hi   candidate (recorded, optionally written as a frame)
     value >= hi        above: recorded; with halt yes the run stops cleanly
                        on every rank at this step, like fix halt.
   This is the one place where the halt is decided.
------------------------------------------------------------------------- */

#ifndef MDSENTRY_FIX_SENTRY_H
#define MDSENTRY_FIX_SENTRY_H

#include "fix.h"

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class FixSentry : public Fix {
 public:
  enum Status { TRUSTED = 0, CANDIDATE = 1, ABOVE = 2 };

  FixSentry(class LAMMPS *, int, char **);
  ~FixSentry() override;
  int setmask() override;
  void init() override;
  void setup_pre_force(int) override;
  void setup(int) override;
  void min_setup(int) override;
  void pre_force(int) override;
  void min_pre_force(int) override;
  void end_of_step() override;
  void min_post_force(int) override;
  void post_run() override;
  int modify_param(int, char **) override;
  double compute_vector(int) override;
  double compute_array(int, int) override;

  // per-atom data movement under KOKKOS (data_sync.h); a recording fake in the tests
  void set_data_sync(class DataSync *s);

 protected:
  enum Source { COMMITTEE, COMPUTE, VARIABLE };

  double lo, hi;
  int source;
  std::string source_id;
  int source_index;
  int haltflag;

  class PairCommittee *pair;
  class Compute *compute;
  int ivar;

  // running record, identical on every rank
  bigint ntrusted, ncandidate, nabove;
  bigint last_trusted_step, last_step, last_generation;
  double last_value;
  tagint last_atom;
  std::vector<std::array<double, 4>> records;    // step, value, atom ID, status

  // the current (or last) run: whether it halted and at which step
  int halted;
  bigint halt_step;
  int run_over;    // post_run() was called: the next hook inside a run starts a new one
  bigint ended_first, ended_last, ended_nsteps;    // the run post_run() ended
  // a halt found by the setup of a run 0 (no step to stop), owed to the next run
  bigint pending_step, pending_generation;

  std::string log_file, frames_file;
  FILE *logfp, *framesfp;
  std::vector<std::string> elements;

  class DataSync *datasync;    // nullptr: host arrays only
  std::unique_ptr<class DataSync> own_sync;

  void find_source();
  void start_run();
  bool new_run_started() const;
  void halt(bigint, double, tagint, bigint, const char *);
  void request();
  void check();
  double evaluate(tagint &);
  void write_frame(bigint, double, int);
};

}    // namespace LAMMPS_NS

#endif
