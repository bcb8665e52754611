/* -*- c++ -*- ----------------------------------------------------------
   mdsentry - fix qeq/field: an electric field on top of any ML potential

   Charges minimise the QEq functional
       W(R,E) = chi.q + 1/2 q.H.q + q.phi,   phi_i = -E.(r_i - box centre)
   with H the shielded Coulomb kernel of fix qeq/shielded (same taper, same
   constants) plus the hardness diagonal, optionally the Yeh-Berkowitz slab
   term, under fixed charges per constraint group.  The ML potential already
   holds the zero-field electrostatics, so the fix adds only the field response
       dE = W(R,E)[q_E] - W(R,0)[q_0]
   with its exact forces and virial: both charge sets minimise their W under
   position-independent constraints, so by the envelope theorem no dq/dr is
   needed.  At E = 0 nothing is added.  "response charges" instead adds the
   simpler published protocol: forces q_E E only (not conservative).
------------------------------------------------------------------------- */

#ifndef MDSENTRY_FIX_QEQ_FIELD_H
#define MDSENTRY_FIX_QEQ_FIELD_H

#include "fix.h"
#include "ghost_cutoff.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class FixQEqField : public Fix {
 public:
  FixQEqField(class LAMMPS *, int, char **);
  ~FixQEqField() override;
  int setmask() override;
  void init() override;
  void init_list(int, class NeighList *) override;
  void setup(int) override;
  void min_setup(int) override;
  void post_force(int) override;
  void min_post_force(int) override;
  double compute_scalar() override;
  double compute_vector(int) override;

  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  void grow_arrays(int) override;
  void copy_arrays(int, int, int) override;
  void set_arrays(int) override;
  int pack_exchange(int, double *) override;
  int unpack_exchange(int, double *) override;
  double memory_usage() override;

 protected:
  enum Response { FULL, CHARGES };

  // command
  double cutoff, tolerance;
  int maxiter;
  double efield[3];
  int response, slabflag, slab_axis, error_unconverged;
  double qtotal;
  std::vector<std::string> qgroup_names;
  std::vector<double> qgroup_charges;
  std::vector<int> qgroup_bits;

  // QEq parameters per type: chi, J (hardness), gamma (shielding)
  std::vector<double> chi, hardness, gamma;
  std::vector<double> shield;    // (gamma_i gamma_j)^-3/2 per type pair
  std::vector<int> have_params;

  // constraint groups: the named ones, then the rest of the fix group
  int ngroups;                 // constraint groups in use (named + rest if not empty)
  std::vector<double> group_charge;
  int rest_used;

  class NeighList *list;
  GhostCutoff ghost_cutoff;

  // per-atom, migrating with the atoms: warm-start histories of both solves
  // (3 per solve, newest first) and the charges of the last solve
  int nsolve;    // 0: zero-field charges, 1: field response
  int ncol;      // 3 * nsolve + 2 (q0, qE)
  double **store;
  double **qout;    // per-atom output: q_E, q_E - q_0
  int atom_rows;    // rows of store and qout
  int nhistory;     // solves done so far (for the extrapolation order)

  // per-step work, sized nmax (owned + ghost)
  int nmax_work;
  std::vector<int> gidx;    // constraint group of each atom, -1 outside the fix group
  std::vector<double> diag, rtilde_slab, phi, rhs, rhs_field, q0, qe, dq, hq;
  std::vector<double> rv[2], zv[2], dv[2], hv[2];    // CG vectors of the two solves
  std::vector<double> weight;    // per constraint group: sum of 1 / H_ii
  double *commvec[2];
  int commsize;

  // H over owned rows (CSR), with dH/dr / r for the forces
  std::vector<int> firstnbr, jlist;
  std::vector<double> hval, hdval;

  double slab_coeff, center[3];
  double delta_energy, dipole, dipole_induced, residual_max, total_charge;
  double group_sums[64];    // charge of each qgroup (at most MAXGROUPS - 1 of them)
  int iterations;
  bigint last_solve;

  void read_file(const char *);
  void check_input();
  void grow_work();
  void build_matrix();
  void matvec(double *, double *);
  void matvec(int, double *const *, double *const *);
  void solve(int, const int *, const double *const *, const double *const *, double *const *,
             int *, double *);
  void group_reduce(const double *, bool, std::vector<double> &);
  void group_reduce(int, const double *const *, bool, std::vector<double> &);
  void guess(int, double *);
  void remember(int, const double *);
  void solve_charges();
  void check_definite();
  void apply_forces(int);
  void field_virial(int, const double *, double *);
  double dot_owned(const double *, const double *);
  double kernel(double, double, double &) const;
  void forward(double *, double * = nullptr);
};

}    // namespace LAMMPS_NS

#endif
