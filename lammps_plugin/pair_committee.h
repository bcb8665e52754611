/* -*- c++ -*- ----------------------------------------------------------
   mdsentry - pair style committee

   A committee of N member pair styles of any kind. The leader (member 1),
   or the committee mean, drives the dynamics; on steps where a deviation
   is needed every member is evaluated into its own force buffer and the
   deepmd-kit model-deviation quantities are computed from each member's
   complete forces on owned atoms.
------------------------------------------------------------------------- */

#ifndef MDSENTRY_PAIR_COMMITTEE_H
#define MDSENTRY_PAIR_COMMITTEE_H

#include "pair.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairCommittee : public Pair {
 public:
  // order of the global deviation values (also compute pair's vector)
  enum { DEVI_F_MAX, DEVI_F_MIN, DEVI_F_AVG, DEVI_E, DEVI_V_MAX, DEVI_V_MIN, DEVI_V_AVG, NDEVI };
  // compute pair's vector: the deviations, then the exploration bias's energy and the
  // committee's energy deviation it was computed from (zero without a bias)
  enum { BIAS_ENERGY = NDEVI, BIAS_SIGMA_E, NVECTOR };

  PairCommittee(class LAMMPS *);
  ~PairCommittee() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  void setup() override;
  void finish() override;
  void modify_params(int, char **) override;
  double single(int, int, int, int, double, double, double, double &) override;
  void write_restart(FILE *) override;
  void read_restart(FILE *) override;

  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

  void *extract(const char *, int &) override;
  void *extract_peratom(const char *, int &) override;
  double memory_usage() override;

  // interface for fix sentry (same plugin library)
  void request_deviation() { devi_request = 1; }
  bigint deviation_step() const { return devi_step; }
  // force entries are fresh on every deviation step, energy/virial entries on
  // energy-tallied steps and model_devi.out rows
  const double *deviation() const { return devi; }
  const double *force_deviation_peratom() const { return devi_atom; }
  int nmembers() const { return static_cast<int>(members.size()); }
  const std::vector<std::string> &styles() const { return member_styles; }
  // changes whenever the models change (pair_style or pair_coeff): a frame
  // already checked at this step must be checked again after a hot swap
  bigint model_generation() const { return generation; }

  Pair *member(int m) const { return members[m]; }
  // per-atom data movement under KOKKOS (data_sync.h); replaced by a recording fake
  // in the tests, which checks the sequence a KOKKOS run performs
  void set_data_sync(class DataSync *s);

 protected:
  std::vector<Pair *> members;
  std::vector<std::string> member_styles;
  std::vector<double **> fbuf;    // per-member forces, nmax x 3
  std::vector<bigint> member_seen_step;    // last step a member was evaluated
  std::vector<int> member_single;          // 1 if the member implements single()
  int nmax_buf;
  double **fkeep;    // forces of earlier styles while members run (with data sync)
  int nmax_keep;
  class DataSync *datasync;                // nullptr: host arrays only
  std::unique_ptr<class DataSync> own_sync;
  bigint generation;
  static bigint generation_counter;    // shared by all instances, so a new committee differs too

  int every;          // evaluate the deviation every this many steps (0: on demand)
  int mean_forces;    // 1: committee mean drives dynamics, 0: leader
  int rel_f, rel_v;
  double eps_f, eps_v;

  // uncertainty-driven exploration: E_bias = A [exp(-sigma_e^2 / B^2) - 1], sigma_e the
  // standard deviation of the members' energies per atom.  Its forces and virial are a
  // combination of the members' own (coefficients bias_coef), so no second derivatives
  double bias_a, bias_b;
  std::vector<double> bias_coef;
  double bias_energy, bias_sigma_e;
  int bias_now;    // the current step's driving forces carry the bias

  std::string out_file;
  int out_freq, out_append;
  FILE *fp;
  bigint last_out_step;

  int devi_flag;       // set by fix pair for "devi"
  int devi_request;    // set by fix sentry for the current step
  bigint devi_step;    // step of the last force-deviation evaluation
  double devi[NDEVI];
  double *devi_atom;
  int nmax_devi;

  // restart: the committee is re-created from its own commands.  Members keep their
  // settings (model file names, ...) in their arguments, which LAMMPS's restart
  // interface does not store for every style (deepmd-kit writes nothing)
  std::vector<std::string> style_args;                  // pair_style committee arguments
  std::vector<std::vector<std::string>> command_log;    // {"pair_coeff"|"pair_modify", args}
  int restore_pending;    // read from a restart file, members not created yet
  int restoring;          // replaying the commands of a restart file
  std::vector<int> unrestored_flags;    // early_flags() before read_restart set them

  void restore();
  std::vector<int *> early_flags();
  void set_early_flags(const std::vector<int> &);
  void allocate();
  template <typename Call> void in_member(int, Call);
  void clear_members();
  void set_flags_from_members();
  bool deviation_needed() const;
  void compute_leader_only(int, int);
  void compute_all_members(int, int, bool);
  void compute_member(int, int, int);
  void add_driving_forces(double **, int);
  void bias_coefficients();
  std::vector<struct MemberSpace> member_spaces() const;
  void take_energy_virial();
  void deviation_from_buffers(bool);
  bool out_row_due() const;
  void write_model_devi();
};

}    // namespace LAMMPS_NS

#endif
