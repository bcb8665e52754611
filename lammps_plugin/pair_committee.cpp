/* ----------------------------------------------------------------------
   mdsentry - pair style committee (see pair_committee.h, docs/pair_committee.md)
------------------------------------------------------------------------- */

#include "pair_committee.h"

#include "data_sync.h"

#include "atom.h"
#include "comm.h"
#include "compute.h"
#include "error.h"
#include "exceptions.h"
#include "force.h"
#include "memory.h"
#include "modify.h"
#include "neighbor.h"
#include "update.h"

#include <cfloat>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

bigint PairCommittee::generation_counter = 0;

// layout of the committee's section of a restart file
// (2: the flags LAMMPS reads before the members are rebuilt follow the commands)
static constexpr int RESTART_VERSION = 2;

/* ---------------------------------------------------------------------- */

PairCommittee::PairCommittee(LAMMPS *lmp) :
    Pair(lmp), nmax_buf(0), fkeep(nullptr), nmax_keep(0), datasync(nullptr), generation(++generation_counter), every(0), mean_forces(0), rel_f(0), rel_v(0), eps_f(0.0), eps_v(0.0),
    bias_a(0.0), bias_b(0.0), bias_energy(0.0), bias_sigma_e(0.0), bias_now(0), out_freq(0), out_append(0), fp(nullptr), last_out_step(-1), devi_flag(0), devi_request(0),
    devi_step(-1), devi_atom(nullptr), nmax_devi(0), restore_pending(0), restoring(0)
{
  restartinfo = 1;
  respa_enable = 0;
  one_coeff = 0;
  writedata = 0;
  reinitflag = 0;

  // compute pair committee sums pvector over ranks: rank 0 holds the values
  nextra = NVECTOR;
  pvector = new double[nextra];
  for (int i = 0; i < NVECTOR; i++) pvector[i] = 0.0;
  for (double &d : devi) d = 0.0;

  // under -k on the committee moves data around each member itself, as pair
  // hybrid/kk does: LAMMPS's own sync around the committee is switched off
  own_sync.reset(kokkos_data_sync(lmp));
  set_data_sync(own_sync.get());
}

void PairCommittee::set_data_sync(DataSync *s)
{
  datasync = s;
  if (datasync) {
    execution_space = Device;
    datamask_read = datamask_modify = EMPTY_MASK;
  } else {
    execution_space = Host;
    datamask_read = datamask_modify = ALL_MASK;
  }
}

/* ---------------------------------------------------------------------- */

PairCommittee::~PairCommittee()
{
  if (copymode) return;
  clear_members();
  delete[] pvector;
  memory->destroy(devi_atom);
  memory->destroy(fkeep);
  if (fp) fclose(fp);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

/* ---------------------------------------------------------------------- */

void PairCommittee::clear_members()
{
  for (auto *p : members) delete p;
  for (auto *b : fbuf) memory->destroy(b);
  members.clear();
  member_styles.clear();
  fbuf.clear();
  member_seen_step.clear();
  nmax_buf = 0;
}

/* ---------------------------------------------------------------------- */

void PairCommittee::allocate()
{
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  memory->create(cutghost, n + 1, n + 1, "pair:cutghost");
}

/* ----------------------------------------------------------------------
   whether a member implements single().  deepmd-kit's styles (deepmd,
   deepspin, dpa4spin, ...) keep LAMMPS's default single_enable = 1 without
   overriding Pair::single(), which returns 0 for every pair: trusting the
   flag would report zero energies and forces.  They are known by name; any
   other style that leaves the flag on without implementing single() cannot
   be told apart from one that implements it
------------------------------------------------------------------------- */

static bool has_single(const std::string &style, const Pair *p)
{
  if (!p->single_enable) return false;
  for (const char *prefix : {"deepmd", "deepspin", "dpa"})
    if (style.compare(0, strlen(prefix), prefix) == 0) return false;
  return true;
}

// LAMMPS's regex subset has no alternation: compare the suffixes directly
static bool is_accelerated(const std::string &style)
{
  for (const char *sfx : {"/omp", "/kk", "/kk/host", "/kk/device", "/gpu", "/intel"}) {
    const std::string suffix(sfx);
    if (style.size() > suffix.size() &&
        style.compare(style.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  }
  return false;
}

/* ----------------------------------------------------------------------
   pair_style committee [keyword value ...] style1 args1 style2 args2 ...
------------------------------------------------------------------------- */

void PairCommittee::settings(int narg, char **arg)
{
  // pair_style hybrid (and its variants) gives a sub-style the arguments up to the next
  // known pair style name: a committee there would receive none of its members
  if (force->pair != this)
    error->all(FLERR,
               "Pair style committee cannot be a sub-style of pair style {}: that style ends "
               "the committee's arguments at its first member's style name",
               force->pair_style ? force->pair_style : "?");
  if (narg < 1) utils::missing_cmd_args(FLERR, "pair_style committee", error);

  // a committee read from a restart file and not rebuilt yet is replaced: the flags it
  // took from the file (its pair_modify settings included) go with it
  if (restore_pending) set_early_flags(unrestored_flags);

  // what write_restart() stores: this command and the pair_coeff/pair_modify that follow
  style_args.assign(arg, arg + narg);
  command_log.clear();
  restore_pending = 0;

  clear_members();
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
    allocated = 0;
  }
  if (fp) {
    fclose(fp);
    fp = nullptr;
  }

  every = 0;
  mean_forces = 0;
  rel_f = rel_v = 0;
  eps_f = eps_v = 0.0;
  bias_a = bias_b = 0.0;
  bias_energy = bias_sigma_e = 0.0;
  // a committee re-created without the bias reports none (compute pair keeps its object)
  pvector[BIAS_ENERGY] = pvector[BIAS_SIGMA_E] = 0.0;
  out_file.clear();
  out_freq = 0;
  out_append = 0;
  bool out_freq_set = false;

  // keywords come first; the first known pair style name starts the members

  int iarg = 0;
  while (iarg < narg) {
    const std::string kw = arg[iarg];
    if (force->pair_map->count(kw)) break;
    if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "pair_style committee " + kw, error);
    const char *val = arg[iarg + 1];
    if (kw == "every") {
      every = utils::inumeric(FLERR, val, false, lmp);
      if (every < 0) error->all(FLERR, "Pair style committee: every must be >= 0, got {}", every);
    } else if (kw == "forces") {
      if (strcmp(val, "leader") == 0)
        mean_forces = 0;
      else if (strcmp(val, "mean") == 0)
        mean_forces = 1;
      else
        error->all(FLERR, "Pair style committee: forces must be leader or mean, got {}", val);
    } else if (kw == "relative") {
      rel_f = 1;
      eps_f = utils::numeric(FLERR, val, false, lmp);
      if (eps_f < 0.0) error->all(FLERR, "Pair style committee: relative eps must be >= 0");
    } else if (kw == "relative_v") {
      rel_v = 1;
      eps_v = utils::numeric(FLERR, val, false, lmp);
      if (eps_v < 0.0) error->all(FLERR, "Pair style committee: relative_v eps must be >= 0");
    } else if (kw == "out_file") {
      out_file = val;
    } else if (kw == "out_freq") {
      out_freq = utils::inumeric(FLERR, val, false, lmp);
      if (out_freq < 0) error->all(FLERR, "Pair style committee: out_freq must be >= 0");
      out_freq_set = true;
    } else if (kw == "out_append") {
      out_append = utils::logical(FLERR, val, false, lmp);
    } else if (kw == "bias") {
      if (iarg + 3 > narg) utils::missing_cmd_args(FLERR, "pair_style committee bias", error);
      if (force->pair_map->count(arg[iarg + 1]) || force->pair_map->count(arg[iarg + 2]))
        error->all(FLERR, "Pair style committee: bias takes two values, A and B, before the "
                          "first member");
      bias_a = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      bias_b = utils::numeric(FLERR, arg[iarg + 2], false, lmp);
      if (bias_a < 0.0)
        error->all(FLERR, "Pair style committee: bias strength A must be >= 0, got {}", bias_a);
      if (bias_b <= 0.0)
        error->all(FLERR, "Pair style committee: bias width B must be > 0, got {}", bias_b);
      iarg += 1;    // two values
    } else {
      error->all(FLERR,
                 "Pair style committee: {} is neither a keyword (every, forces, relative, "
                 "relative_v, bias, out_file, out_freq, out_append) nor a known pair style",
                 kw);
    }
    iarg += 2;
  }

  if (iarg >= narg) error->all(FLERR, "Pair style committee needs at least one member pair style");

  // members, split as pair_style hybrid does: each style's arguments run up
  // to the next known pair style name.  Members are created without the
  // accelerator suffix: they evaluate into private force buffers, which the
  // /omp, /kk, /gpu and /intel variants do not support.

  while (iarg < narg) {
    const std::string style = arg[iarg];
    const int index = static_cast<int>(members.size()) + 1;
    if (style == "committee" || style.compare(0, 6, "hybrid") == 0)
      error->all(FLERR, "Pair style committee member {} cannot be {}", index, style);
    if (is_accelerated(style))
      error->all(FLERR,
                 "Pair style committee member {} is the accelerated variant {}: members evaluate "
                 "into private force buffers, which accelerator styles do not support; use the "
                 "plain style (a -sf suffix is applied to the committee, not to its members)",
                 index, style);
    int sflag = 0;
    Pair *p = force->new_pair(style, 0, sflag);
    if (!p) error->all(FLERR, "Pair style committee: cannot create member {} ({})", index, style);

    int jarg = iarg + 1;
    while (jarg < narg && !force->pair_map->count(arg[jarg])) jarg++;
    p->settings(jarg - iarg - 1, &arg[iarg + 1]);

    members.push_back(p);
    member_styles.push_back(style);
    fbuf.push_back(nullptr);
    member_seen_step.push_back(-1);
    iarg = jarg;
  }

  if (bias_a > 0.0 && members.size() < 2)
    error->all(FLERR, "Pair style committee: bias needs at least two members (it follows their "
                      "energy deviation)");
  bias_coef.assign(members.size(), 0.0);

  if (lmp->suffix_enable && comm->me == 0)
    utils::logmesg(lmp, "pair committee: members run as plain styles (suffix {} not applied)\n",
                   lmp->suffix ? lmp->suffix : "");

  // deepmd-kit's default output frequency is 100 steps
  if (!out_file.empty() && !out_freq_set) out_freq = (every > 0) ? every : 100;
  if (out_freq > 0 && out_file.empty()) out_file = "model_devi.out";

  if (!out_file.empty() && comm->me == 0) {
    // a committee restored from a restart file continues its file (header if it is new)
    fp = fopen(out_file.c_str(), (out_append || restoring) ? "a" : "w");
    if (!fp)
      error->one(FLERR, "Pair style committee: cannot open {}: {}", out_file,
                 utils::getsyserror());
    bool header = !out_append;
    if (restoring) {
      fseek(fp, 0, SEEK_END);
      header = (ftell(fp) == 0);
    }
    if (header) {
      fprintf(fp, "#%11s%19s%19s%19s%19s%19s%19s\n", "step", "max_devi_v", "min_devi_v",
              "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f");
      fflush(fp);
    }
  }
  last_out_step = -1;
  devi_step = -1;
  generation = ++generation_counter;

  set_flags_from_members();
}

/* ----------------------------------------------------------------------
   top-level flags derived from the members
------------------------------------------------------------------------- */

void PairCommittee::set_flags_from_members()
{
  const int n = nmembers();
  comm_forward = 0;
  comm_reverse_off = 0;
  comm_reverse = 3 * n;    // all member force buffers travel in one reverse comm
  manybody_flag = no_virial_fdotr_compute = ghostneigh = finitecutflag = 0;
  // single() is the driving members' (the leader's, or all with forces mean); without it
  // compute pair/local, pair_write, compute group/group ... refuse the committee at init
  single_enable = 1;
  member_single.assign(n, 0);
  int centroid = members[0]->centroidstressflag;

  for (int m = 0; m < n; m++) {
    Pair *p = members[m];
    comm_forward = MAX(comm_forward, p->comm_forward);
    comm_reverse = MAX(comm_reverse, p->comm_reverse);
    comm_reverse_off = MAX(comm_reverse_off, p->comm_reverse_off);
    if (p->manybody_flag) manybody_flag = 1;
    if (p->no_virial_fdotr_compute) no_virial_fdotr_compute = 1;
    if (p->ghostneigh) ghostneigh = 1;
    if (p->finitecutflag) finitecutflag = 1;
    member_single[m] = has_single(member_styles[m], p) ? 1 : 0;
    if ((mean_forces || m == 0) && !member_single[m]) single_enable = 0;
    if (p->centroidstressflag != centroid) centroid = CENTROID_NOTAVAIL;
  }
  centroidstressflag = centroid;

  // long-range solvers talk to the pair style that drives the dynamics
  Pair *lead = members[0];
  ewaldflag = lead->ewaldflag;
  pppmflag = lead->pppmflag;
  msmflag = lead->msmflag;
  dispersionflag = lead->dispersionflag;
  tip4pflag = lead->tip4pflag;
  dipoleflag = lead->dipoleflag;
  spinflag = lead->spinflag;
}

/* ----------------------------------------------------------------------
   run a member's setup step; its collective errors are re-raised naming the
   member (deepmd's "element Ag not found in the model" says not which one)
------------------------------------------------------------------------- */

template <typename Call> void PairCommittee::in_member(int m, Call call)
{
  try {
    call();
  } catch (LAMMPSAbortException &) {
    throw;    // raised on one rank only: re-raising collectively would hang
  } catch (LAMMPSException &e) {
    std::string msg = e.what();
    if (msg.compare(0, 7, "ERROR: ") == 0) msg.erase(0, 7);
    msg = msg.substr(0, msg.find('\n'));
    error->all(FLERR, "Committee member {} ({}): {}", m + 1, member_styles[m], msg);
  }
}

/* ----------------------------------------------------------------------
   pair_coeff I J m args ...  -> member m receives "I J args ..."
------------------------------------------------------------------------- */

void PairCommittee::coeff(int narg, char **arg)
{
  if (narg < 3)
    error->all(FLERR,
               "Incorrect args for pair coefficients: pair_coeff I J m args ... "
               "(m = committee member, 1-based)");
  if (restore_pending) restore();    // this pair_coeff amends the restored committee
  if (members.empty()) error->all(FLERR, "Pair style committee has no members");
  if (!allocated) allocate();

  const int m = utils::inumeric(FLERR, arg[2], false, lmp);
  if (m < 1 || m > nmembers())
    error->all(FLERR, "pair_coeff for committee member {}, but the committee has {} member(s)", m,
               nmembers());
  Pair *p = members[m - 1];
  if (p->one_coeff && (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0))
    error->all(FLERR, "Committee member {} ({}) takes a single pair_coeff * * {} ...", m,
               member_styles[m - 1], m);

  std::vector<char *> margs;
  margs.push_back(arg[0]);
  margs.push_back(arg[1]);
  for (int i = 3; i < narg; i++) margs.push_back(arg[i]);
  in_member(m - 1, [&] { p->coeff(static_cast<int>(margs.size()), margs.data()); });
  generation = ++generation_counter;
  command_log.emplace_back(1, "pair_coeff");
  command_log.back().insert(command_log.back().end(), arg, arg + narg);

  // a type pair counts as set once any member has it; init_style() names
  // the member whose coefficients are missing
  const int n = atom->ntypes;
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++)
      if (p->allocated && p->setflag[i][j]) setflag[i][j] = 1;
}

/* ---------------------------------------------------------------------- */

void PairCommittee::init_style()
{
  if (restore_pending) restore();
  if (members.empty()) error->all(FLERR, "Pair style committee has no members");

  // rRESPA would split each member into inner/middle/outer parts, and fix sentry's requests
  // come through pre_force(), which rRESPA does not call: refused rather than half-supported
  if (update->whichflag == 1 && utils::strmatch(update->integrate_style, "^respa"))
    error->all(FLERR,
               "Pair style committee does not support rRESPA (run_style {}): use run_style verlet",
               update->integrate_style);
  const int n = atom->ntypes;
  for (int m = 0; m < nmembers(); m++) {
    Pair *p = members[m];
    if (!p->allocated)
      error->all(FLERR, "Committee member {} ({}) has no coefficients: use pair_coeff I J {} ...",
                 m + 1, member_styles[m], m + 1);
    for (int i = 1; i <= n; i++)
      if (!p->setflag[i][i])
        error->all(FLERR, "Committee member {} ({}): pair coefficients for type {} are not set",
                   m + 1, member_styles[m], i);
    // a KOKKOS member writes its forces on the device: only a committee that moves data
    // around each member (built with KOKKOS) can read them
    if (p->kokkosable && !datasync)
      error->all(FLERR,
                 "Committee member {} ({}) is a KOKKOS style, but this mdsentry plugin was built "
                 "without KOKKOS: rebuild it with -DMDSENTRY_KOKKOS=ON against your LAMMPS "
                 "(docs/install.md), or use the member's host style",
                 m + 1, member_styles[m]);
    p->cutforce = 0.0;
    in_member(m, [&] { p->init_style(); });
    member_seen_step[m] = -1;    // a fresh neighbor list is coming
  }
  set_flags_from_members();

  // the computes that call single() would refuse the committee with LAMMPS's generic
  // "Pair style does not support ..." at their init: say which member lacks it
  if (!single_enable) {
    int m = 0;
    while (m < nmembers() && member_single[m]) m++;
    for (const char *style : {"^pair/local$", "^group/group$"})
      for (auto *c : modify->get_compute_by_style(style))
        error->all(FLERR,
                   "Compute {} ({}) needs single() of pair style committee, which committee "
                   "member {} ({}) does not implement",
                   c->id, c->style, m + 1, member_styles[m]);
  }
}

/* ---------------------------------------------------------------------- */

double PairCommittee::init_one(int i, int j)
{
  double cut = 0.0, et = 0.0, pt = 0.0;
  const double w = 1.0 / nmembers();
  if (ghostneigh) cutghost[i][j] = cutghost[j][i] = 0.0;

  for (int m = 0; m < nmembers(); m++) {
    Pair *p = members[m];
    const double c = p->init_one(i, j);
    p->cutsq[i][j] = p->cutsq[j][i] = c * c;
    p->cutforce = MAX(p->cutforce, c);
    cut = MAX(cut, c);
    if (p->ghostneigh)
      cutghost[i][j] = cutghost[j][i] = MAX(cutghost[i][j], p->cutghost[i][j]);
    if (tail_flag) {
      if (mean_forces) {
        et += w * p->etail_ij;
        pt += w * p->ptail_ij;
      } else if (m == 0) {
        et = p->etail_ij;
        pt = p->ptail_ij;
      }
    }
  }
  etail_ij = et;
  ptail_ij = pt;
  return cut;
}

/* ---------------------------------------------------------------------- */

void PairCommittee::setup()
{
  for (auto *p : members) p->setup();
}

void PairCommittee::finish()
{
  for (auto *p : members) p->finish();
}

void PairCommittee::modify_params(int narg, char **arg)
{
  if (restore_pending) restore();
  Pair::modify_params(narg, arg);
  for (auto *p : members) p->modify_params(narg, arg);
  command_log.emplace_back(1, "pair_modify");
  command_log.back().insert(command_log.back().end(), arg, arg + narg);
}

/* ----------------------------------------------------------------------
   restart files: pair_style committee, pair_coeff and pair_modify as given.
   LAMMPS's restart interface stores no settings for some member styles
   (deepmd-kit keeps its model files in them), so the committee stores its
   own commands and replays them.  Called on rank 0 only.
------------------------------------------------------------------------- */

static void write_strings(FILE *fp, const std::vector<std::string> &strings)
{
  const int n = static_cast<int>(strings.size());
  fwrite(&n, sizeof(int), 1, fp);
  for (const auto &str : strings) {
    const int len = static_cast<int>(str.size()) + 1;
    fwrite(&len, sizeof(int), 1, fp);
    fwrite(str.c_str(), sizeof(char), len, fp);
  }
}

/* ----------------------------------------------------------------------
   what LAMMPS reads from the pair style before Pair::init() calls
   init_style(), where a restored committee is rebuilt at the latest:
   Integrate::init() reads compute_flag, KSpace::init() (which Force::init()
   runs before Pair::init()) the long-range compatibility flags, pair_write
   single_enable before it initializes anything, Pair::init() offset_flag,
   tail_flag and manybody_flag.  The restart file stores them as they were
   when it was written, so the committee answers correctly before its
   members exist.
------------------------------------------------------------------------- */

std::vector<int *> PairCommittee::early_flags()
{
  return {&compute_flag, &offset_flag, &tail_flag, &single_enable, &manybody_flag,
          &no_virial_fdotr_compute, &ghostneigh, &finitecutflag, &centroidstressflag,
          &ewaldflag, &pppmflag, &msmflag, &dispersionflag, &tip4pflag, &dipoleflag,
          &spinflag};
}

void PairCommittee::set_early_flags(const std::vector<int> &values)
{
  const auto flags = early_flags();
  for (size_t k = 0; k < flags.size() && k < values.size(); k++) *flags[k] = values[k];
}

void PairCommittee::write_restart(FILE *fp)
{
  fwrite(&RESTART_VERSION, sizeof(int), 1, fp);
  write_strings(fp, style_args);
  const int ncmd = static_cast<int>(command_log.size());
  fwrite(&ncmd, sizeof(int), 1, fp);
  for (const auto &cmd : command_log) write_strings(fp, cmd);
  const auto flags = early_flags();
  const int nflags = static_cast<int>(flags.size());
  fwrite(&nflags, sizeof(int), 1, fp);
  for (const int *flag : flags) fwrite(flag, sizeof(int), 1, fp);
}

/* ----------------------------------------------------------------------
   rank 0 reads, every rank receives.  The members are only created when
   the committee is first needed -- any initialization (run, minimize,
   write_restart, write_data, pair_write, ...), a KSpace style's request for
   the Coulomb cutoff, pair_coeff or pair_modify: a pair_style committee
   after read_restart replaces it without reading the old model files,
   which may be gone
------------------------------------------------------------------------- */

void PairCommittee::read_restart(FILE *fp)
{
  const int me = comm->me;
  auto read_int = [&]() {
    int value = 0;
    if (me == 0) utils::sfread(FLERR, &value, sizeof(int), 1, fp, nullptr, error);
    MPI_Bcast(&value, 1, MPI_INT, 0, world);
    return value;
  };
  auto read_strings = [&]() {
    const int n = read_int();
    if (n < 0) error->all(FLERR, "Pair style committee: corrupt restart file");
    std::vector<std::string> strings(n);
    for (auto &str : strings) {
      const int len = read_int();
      if (len < 1) error->all(FLERR, "Pair style committee: corrupt restart file");
      std::vector<char> buf(len);
      if (me == 0) utils::sfread(FLERR, buf.data(), sizeof(char), len, fp, nullptr, error);
      MPI_Bcast(buf.data(), len, MPI_CHAR, 0, world);
      buf[len - 1] = '\0';
      str = buf.data();
    }
    return strings;
  };

  const int version = read_int();
  if (version != RESTART_VERSION)
    error->all(FLERR,
               "Pair style committee: restart file layout {} is not {} (written by another "
               "version of the mdsentry plugin)",
               version, RESTART_VERSION);
  auto args = read_strings();
  const int ncmd = read_int();
  if (ncmd < 0) error->all(FLERR, "Pair style committee: corrupt restart file");
  std::vector<std::vector<std::string>> log(ncmd);
  for (auto &cmd : log) cmd = read_strings();
  const int nflags = read_int();
  if (nflags != static_cast<int>(early_flags().size()))
    error->all(FLERR, "Pair style committee: corrupt restart file");
  std::vector<int> values(nflags);
  for (int &value : values) value = read_int();

  style_args = std::move(args);
  command_log = std::move(log);
  restore_pending = 1;

  // the flags of the stored committee until it is rebuilt (or replaced: then those of a new one)
  unrestored_flags.clear();
  for (const int *flag : early_flags()) unrestored_flags.push_back(*flag);
  set_early_flags(values);

  // Pair::init() wants coefficients before it calls init_style(), which creates the members
  if (!allocated) allocate();
  for (int i = 1; i <= atom->ntypes; i++)
    for (int j = i; j <= atom->ntypes; j++) setflag[i][j] = 1;
}

/* ----------------------------------------------------------------------
   replay the commands read from a restart file, collectively
------------------------------------------------------------------------- */

void PairCommittee::restore()
{
  const auto args = style_args;
  const auto log = command_log;
  restore_pending = 0;
  restoring = 1;

  auto replay = [&](const std::vector<std::string> &words, int first, auto call) {
    std::vector<std::string> copy(words.begin() + first, words.end());
    std::vector<char *> ptrs;
    for (auto &word : copy) ptrs.push_back(word.data());
    ptrs.push_back(nullptr);
    call(static_cast<int>(copy.size()), ptrs.data());
  };

  std::string what = "pair_style committee " + utils::join_words(args, " ");
  try {
    replay(args, 0, [&](int n, char **a) { settings(n, a); });
    for (const auto &cmd : log) {
      if (cmd.empty()) continue;
      what = utils::join_words(cmd, " ");
      if (cmd[0] == "pair_coeff")
        replay(cmd, 1, [&](int n, char **a) { coeff(n, a); });
      else if (cmd[0] == "pair_modify")
        replay(cmd, 1, [&](int n, char **a) { modify_params(n, a); });
      else
        error->all(FLERR, "Pair style committee: corrupt restart file ({})", cmd[0]);
    }
  } catch (LAMMPSAbortException &) {
    restoring = 0;
    // raised on one rank only (e.g. a missing potential file): re-raising collectively
    // would hang, so only this rank says where it came from
    utils::logmesg(lmp, "Pair style committee from the restart file: '{}' failed\n", what);
    throw;
  } catch (LAMMPSException &e) {
    restoring = 0;
    std::string msg = e.what();
    if (msg.compare(0, 7, "ERROR: ") == 0) msg.erase(0, 7);
    msg = msg.substr(0, msg.find('\n'));
    error->all(FLERR,
               "Pair style committee from the restart file, '{}': {} (or re-specify "
               "pair_style committee and its pair_coeff after read_restart)",
               what, msg);
  }
  restoring = 0;
}

/* ---------------------------------------------------------------------- */

double PairCommittee::single(int i, int j, int itype, int jtype, double rsq, double factor_coul,
                             double factor_lj, double &fforce)
{
  // the members that drive the dynamics, each only inside its own cutoff (callers test
  // rsq against the committee's cutoff, the largest of all members), as PairHybrid::single
  const int n = mean_forces ? nmembers() : 1;
  const double w = 1.0 / n;
  double eng = 0.0;
  fforce = 0.0;
  for (int m = 0; m < n; m++) {
    Pair *p = members[m];
    if (rsq >= p->cutsq[itype][jtype]) continue;
    // callers check single_enable (0 then) collectively at init; never return a silent 0
    if (!member_single[m])
      error->one(FLERR, "Committee member {} ({}) does not support single()", m + 1,
                 member_styles[m]);
    double fone = 0.0;
    eng += w * p->single(i, j, itype, jtype, rsq, factor_coul, factor_lj, fone);
    fforce += w * fone;
  }
  return eng;
}

/* ---------------------------------------------------------------------- */

bool PairCommittee::deviation_needed() const
{
  const bigint step = update->ntimestep;
  if (devi_request || devi_flag || eflag_global) return true;
  if (every > 0 && step % every == 0) return true;
  if (out_freq > 0 && step % out_freq == 0) return true;
  return false;
}

/* ---------------------------------------------------------------------- */

void PairCommittee::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  // never report a stale value, whatever flags the caller passed
  eng_vdwl = eng_coul = 0.0;
  for (double &v : virial) v = 0.0;

  const bool devi_now = deviation_needed();
  // the bias needs every member's energy and forces on every step
  if (devi_now || mean_forces || bias_a > 0.0)
    compute_all_members(eflag, vflag, devi_now);
  else
    compute_leader_only(eflag, vflag);
  devi_request = 0;
}

/* ----------------------------------------------------------------------
   a member evaluated less often than the neighbor list is rebuilt must not
   trust neighbor->ago (deepmd-kit reuses its own list copy while ago > 0)
------------------------------------------------------------------------- */

namespace {
struct AgoGuard {
  Neighbor *neighbor;
  int saved;
  AgoGuard(Neighbor *n, bigint seen) : neighbor(n), saved(n->ago)
  {
    if (seen < n->lastcall) n->ago = 0;
  }
  ~AgoGuard() { neighbor->ago = saved; }
};
}    // namespace

void PairCommittee::compute_member(int m, int eflag, int vflag)
{
  {
    AgoGuard guard(neighbor, member_seen_step[m]);
    members[m]->compute(eflag, vflag);
  }
  member_seen_step[m] = update->ntimestep;
}

std::vector<MemberSpace> PairCommittee::member_spaces() const
{
  std::vector<MemberSpace> spaces;
  for (Pair *p : members) spaces.push_back({p->execution_space, p->datamask_read, p->datamask_modify});
  return spaces;
}

void PairCommittee::compute_leader_only(int eflag, int vflag)
{
  if (datasync) {
    struct LeaderOps {
      PairCommittee *pc;
      int eflag, vflag;
      void compute(int m) { pc->compute_member(m, eflag, vflag); }
    } ops{this, eflag, vflag};
    Pair *lead = members[0];
    sync_leader_step(*datasync, {lead->execution_space, lead->datamask_read, lead->datamask_modify},
                     ops);
  } else {
    compute_member(0, eflag, vflag);
  }
  take_energy_virial();
}

/* ---------------------------------------------------------------------- */

void PairCommittee::compute_all_members(int eflag, int vflag, bool devi_now)
{
  const int n = nmembers();
  const int nall = atom->nlocal + atom->nghost;

  if (atom->nmax > nmax_buf) {
    nmax_buf = atom->nmax;
    for (int m = 0; m < n; m++) memory->grow(fbuf[m], nmax_buf, 3, "pair:committee:fbuf");
  }

  // energy and virial deviations are only read on energy-tallied steps
  // (compute pair) and in model_devi.out rows; force-only requests (fix
  // sentry, fix pair, every k) spare the members those tallies
  const bool ev_now = devi_now && (eflag_global || out_row_due());
  int eflag_m = eflag, vflag_m = vflag;
  if (bias_a > 0.0) eflag_m |= ENERGY_GLOBAL;    // the bias is a function of the energies
  if (ev_now) {
    eflag_m |= ENERGY_GLOBAL;
    // the virial style Integrate::ev_setup() would choose: F dot r needs the forces on
    // ghost atoms, which a member only computes with newton pair on; with newton off the
    // members tally the virial pairwise
    if (!(vflag_m & (VIRIAL_PAIR | VIRIAL_FDOTR)))
      vflag_m |= (force->newton_pair && !no_virial_fdotr_compute) ? VIRIAL_FDOTR : VIRIAL_PAIR;
  }

  double **f = atom->f;
  const size_t bytes = sizeof(double) * 3 * nall;
  if (datasync) {
    // members may write f in another execution space (KOKKOS): each one runs on the
    // shared force array, zeroed, and its forces are copied out on the host
    if (atom->nmax > nmax_keep) {
      nmax_keep = atom->nmax;
      memory->grow(fkeep, nmax_keep, 3, "pair:committee:fkeep");
    }
    struct CopyOps {
      PairCommittee *pc;
      double **f;
      size_t bytes;
      int nall, eflag, vflag;
      void keep()
      {
        if (!bytes) return;
        memcpy(&pc->fkeep[0][0], &f[0][0], bytes);
        memset(&f[0][0], 0, bytes);
      }
      void compute(int m) { pc->compute_member(m, eflag, vflag); }
      void take(int m)
      {
        if (!bytes) return;
        memcpy(&pc->fbuf[m][0][0], &f[0][0], bytes);
        memset(&f[0][0], 0, bytes);
      }
      void drive()
      {
        if (bytes) memcpy(&f[0][0], &pc->fkeep[0][0], bytes);
        pc->add_driving_forces(f, nall);
      }
    } ops{this, f, bytes, nall, eflag_m, vflag_m};
    sync_members_step(*datasync, member_spaces(), ops);
  } else {
    // host arrays: each member writes straight into its buffer
    for (int m = 0; m < n; m++) {
      if (bytes) memset(&fbuf[m][0][0], 0, bytes);
      atom->f = fbuf[m];
      compute_member(m, eflag_m, vflag_m);
      atom->f = f;
    }
    add_driving_forces(f, nall);
  }

  take_energy_virial();
  if (devi_now) deviation_from_buffers(ev_now);
}

/* ----------------------------------------------------------------------
   driving forces, ghosts included: Verlet's reverse comm completes them
------------------------------------------------------------------------- */

void PairCommittee::add_driving_forces(double **f, int nall)
{
  // all members have run (host and data-sync paths): the bias's coefficients are known
  bias_now = bias_a > 0.0;
  if (bias_now) {
    bias_coefficients();
    const int n = nmembers();
    for (int i = 0; i < nall; i++)
      for (int m = 0; m < n; m++) {
        const double c = bias_coef[m];
        f[i][0] += c * fbuf[m][i][0];
        f[i][1] += c * fbuf[m][i][1];
        f[i][2] += c * fbuf[m][i][2];
      }
  }
  if (mean_forces) {
    const int n = nmembers();
    const double w = 1.0 / n;
    for (int i = 0; i < nall; i++)
      for (int d = 0; d < 3; d++) {
        double s = 0.0;
        for (int m = 0; m < n; m++) s += w * fbuf[m][i][d];
        f[i][d] += s;
      }
  } else {
    double **f0 = fbuf[0];
    for (int i = 0; i < nall; i++) {
      f[i][0] += f0[i][0];
      f[i][1] += f0[i][1];
      f[i][2] += f0[i][2];
    }
  }
}

/* ----------------------------------------------------------------------
   deepmd-kit's energy deviation: the standard deviation over the n members of their
   energy per atom (energies are totals over ranks, stride apart); mean: their mean
------------------------------------------------------------------------- */

static double energy_deviation(const double *total, int stride, int n, double natoms,
                               double &mean)
{
  const double per_atom = natoms > 0.0 ? 1.0 / natoms : 0.0;
  mean = 0.0;
  for (int m = 0; m < n; m++) mean += total[stride * m] * per_atom;
  mean /= n;
  double s = 0.0;
  for (int m = 0; m < n; m++) {
    const double diff = total[stride * m] * per_atom - mean;
    s += diff * diff;
  }
  return sqrt(s / n);
}

/* ----------------------------------------------------------------------
   uncertainty-driven exploration (Kulichenko et al., Nat. Comput. Sci. 3, 230 (2023)):
     E_bias = A [exp(-s / B^2) - 1],  s = 1/M sum_m (e_m - <e>)^2,  e_m = E_m / N
   With ds/dx = 2/(M N) sum_m (e_m - <e>) dE_m/dx, the bias's forces and virial are
   sum_m c_m F_m and sum_m c_m W_m with c_m = dE_bias/ds 2/(M N) (e_m - <e>): linear in
   what the members computed, ghosts included (Verlet's reverse comm completes them).
   Collective: every rank reaches it on every step with the bias
------------------------------------------------------------------------- */

void PairCommittee::bias_coefficients()
{
  const int n = nmembers();
  const double natoms = static_cast<double>(atom->natoms);
  std::vector<double> local(n), total(n);
  for (int m = 0; m < n; m++) local[m] = members[m]->eng_vdwl + members[m]->eng_coul;
  MPI_Allreduce(local.data(), total.data(), n, MPI_DOUBLE, MPI_SUM, world);

  // s is the square of deepmd-kit's energy deviation (compute pair's element 4)
  double mean;
  bias_sigma_e = energy_deviation(total.data(), 1, n, natoms, mean);
  const double s = bias_sigma_e * bias_sigma_e;
  const double per_atom = natoms > 0.0 ? 1.0 / natoms : 0.0;

  const double b2 = bias_b * bias_b;
  const double decay = exp(-s / b2);
  bias_energy = bias_a * (decay - 1.0);
  const double dE_ds = -bias_a / b2 * decay;
  for (int m = 0; m < n; m++)
    bias_coef[m] = dE_ds * 2.0 / n * per_atom * (total[m] * per_atom - mean);

  pvector[BIAS_ENERGY] = (comm->me == 0) ? bias_energy : 0.0;
  pvector[BIAS_SIGMA_E] = (comm->me == 0) ? bias_sigma_e : 0.0;
}

/* ----------------------------------------------------------------------
   energies and virials consistent with the driving forces
------------------------------------------------------------------------- */

void PairCommittee::take_energy_virial()
{
  const int n = mean_forces ? nmembers() : 1;    // the members that drive the dynamics
  const double w = 1.0 / n;
  const int nlocal = atom->nlocal;
  const int nall_e = force->newton_pair ? nlocal + atom->nghost : nlocal;

  // energies are the driving members' (weight w); virials, per atom too, also carry the
  // bias's sum_m c_m W_m.  The bias energy is global: it does not split into atoms
  const int nv = bias_now ? nmembers() : n;
  for (int m = 0; m < nv; m++) {
    Pair *p = members[m];
    const double wd = (m < n) ? w : 0.0;
    const double wv = wd + (bias_now ? bias_coef[m] : 0.0);
    if (eflag_global && m < n) {
      eng_vdwl += wd * p->eng_vdwl;
      eng_coul += wd * p->eng_coul;
    }
    // in F dot r mode ev_setup() clears vflag_global; members did their own fdotr
    if (vflag_global || vflag_fdotr)
      for (int k = 0; k < 6; k++) virial[k] += wv * p->virial[k];
    if (eflag_atom && p->eatom && m < n)
      for (int i = 0; i < nall_e; i++) eatom[i] += wd * p->eatom[i];
    if (vflag_atom && p->vatom)
      for (int i = 0; i < nall_e; i++)
        for (int k = 0; k < 6; k++) vatom[i][k] += wv * p->vatom[i][k];
    if (cvflag_atom && p->cvatom)
      for (int i = 0; i < nall_e; i++)
        for (int k = 0; k < 9; k++) cvatom[i][k] += wv * p->cvatom[i][k];
  }
  if (bias_now && eflag_global && comm->me == 0) eng_vdwl += bias_energy;
  bias_now = 0;
}

/* ----------------------------------------------------------------------
   deepmd-kit model deviation from the members' complete forces
------------------------------------------------------------------------- */

void PairCommittee::deviation_from_buffers(bool with_ev)
{
  const int n = nmembers();
  const int nlocal = atom->nlocal;
  const double natoms = static_cast<double>(atom->natoms);

  // each member's forces on ghost atoms belong to their owners
  if (force->newton_pair) comm->reverse_comm(this);

  if (atom->nmax > nmax_devi) {
    nmax_devi = atom->nmax;
    memory->grow(devi_atom, nmax_devi, "pair:committee:devi_atom");
  }

  double fmax = 0.0, fmin = DBL_MAX, fsum = 0.0;
  for (int i = 0; i < nlocal; i++) {
    double avg[3] = {0.0, 0.0, 0.0};
    for (int m = 0; m < n; m++)
      for (int d = 0; d < 3; d++) avg[d] += fbuf[m][i][d];
    for (int d = 0; d < 3; d++) avg[d] /= n;
    double s = 0.0;
    for (int m = 0; m < n; m++)
      for (int d = 0; d < 3; d++) {
        const double diff = fbuf[m][i][d] - avg[d];
        s += diff * diff;
      }
    double sigma = sqrt(s / n);
    if (rel_f) sigma /= sqrt(avg[0] * avg[0] + avg[1] * avg[1] + avg[2] * avg[2]) + eps_f;
    devi_atom[i] = sigma;
    fmax = MAX(fmax, sigma);
    fmin = MIN(fmin, sigma);
    fsum += sigma;
  }
  double all[3];
  MPI_Allreduce(&fmax, &all[0], 1, MPI_DOUBLE, MPI_MAX, world);
  MPI_Allreduce(&fmin, &all[1], 1, MPI_DOUBLE, MPI_MIN, world);
  MPI_Allreduce(&fsum, &all[2], 1, MPI_DOUBLE, MPI_SUM, world);
  devi[DEVI_F_MAX] = all[0];
  devi[DEVI_F_MIN] = all[1];
  devi[DEVI_F_AVG] = natoms > 0.0 ? all[2] / natoms : 0.0;

  devi_step = update->ntimestep;
  if (!with_ev) return;    // E and virial deviations keep their last values

  // members' total energies and virials (partial sums per rank)
  std::vector<double> local(7 * n), total(7 * n);
  for (int m = 0; m < n; m++) {
    local[7 * m] = members[m]->eng_vdwl + members[m]->eng_coul;
    for (int k = 0; k < 6; k++) local[7 * m + 1 + k] = members[m]->virial[k];
  }
  MPI_Allreduce(local.data(), total.data(), 7 * n, MPI_DOUBLE, MPI_SUM, world);

  double eavg;
  devi[DEVI_E] = energy_deviation(total.data(), 7, n, natoms, eavg);

  // 9-component virial per atom, as deepmd-kit: xx xy xz yx yy yz zx zy zz
  static const int comp9[9] = {0, 3, 4, 3, 1, 5, 4, 5, 2};
  double vmax = 0.0, vmin = DBL_MAX, vsq = 0.0;
  for (int c = 0; c < 9; c++) {
    double avg = 0.0;
    for (int m = 0; m < n; m++) avg += total[7 * m + 1 + comp9[c]] / natoms;
    avg /= n;
    double s = 0.0;
    for (int m = 0; m < n; m++) {
      const double diff = total[7 * m + 1 + comp9[c]] / natoms - avg;
      s += diff * diff;
    }
    double sigma = sqrt(s / n);
    if (rel_v) sigma /= fabs(avg) + eps_v;
    vmax = MAX(vmax, sigma);
    vmin = MIN(vmin, sigma);
    vsq += sigma * sigma;
  }
  devi[DEVI_V_MAX] = vmax;
  devi[DEVI_V_MIN] = vmin;
  devi[DEVI_V_AVG] = sqrt(vsq / 9.0);

  for (int k = 0; k < NDEVI; k++) pvector[k] = (comm->me == 0) ? devi[k] : 0.0;
  if (out_row_due()) write_model_devi();
}

bool PairCommittee::out_row_due() const
{
  const bigint step = update->ntimestep;
  return out_freq > 0 && step % out_freq == 0 && step > last_out_step;
}

/* ----------------------------------------------------------------------
   one row of deepmd-kit's model_devi.out
------------------------------------------------------------------------- */

void PairCommittee::write_model_devi()
{
  last_out_step = devi_step;
  if (!fp) return;
  fprintf(fp, "%12lld %18.6e %18.6e %18.6e %18.6e %18.6e %18.6e\n",
          static_cast<long long>(devi_step), devi[DEVI_V_MAX], devi[DEVI_V_MIN], devi[DEVI_V_AVG],
          devi[DEVI_F_MAX], devi[DEVI_F_MIN], devi[DEVI_F_AVG]);
  fflush(fp);
}

/* ---------------------------------------------------------------------- */

int PairCommittee::pack_reverse_comm(int n, int first, double *buf)
{
  int k = 0;
  const int last = first + n;
  for (int i = first; i < last; i++)
    for (double **fm : fbuf) {
      buf[k++] = fm[i][0];
      buf[k++] = fm[i][1];
      buf[k++] = fm[i][2];
    }
  return k;
}

void PairCommittee::unpack_reverse_comm(int n, int *list, double *buf)
{
  int k = 0;
  for (int i = 0; i < n; i++) {
    const int j = list[i];
    for (double **fm : fbuf) {
      fm[j][0] += buf[k++];
      fm[j][1] += buf[k++];
      fm[j][2] += buf[k++];
    }
  }
}

/* ---------------------------------------------------------------------- */

void *PairCommittee::extract(const char *name, int &dim)
{
  // fix pair's trigger for the per-atom deviation
  if (strcmp(name, "devi_flag") == 0) {
    dim = 0;
    return &devi_flag;
  }
  // KSpace::init() asks for the Coulomb cutoff before Pair::init(): the leader's, so a
  // committee read from a restart file is rebuilt here (collectively, as kspace and fix
  // adapt call extract() on every rank)
  if (restore_pending) restore();
  if (members.empty()) return nullptr;
  return members[0]->extract(name, dim);
}

void *PairCommittee::extract_peratom(const char *name, int &ncol)
{
  if (strcmp(name, "devi") == 0) {
    ncol = 0;
    return devi_atom;
  }
  return nullptr;
}

/* ---------------------------------------------------------------------- */

double PairCommittee::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += static_cast<double>(nmax_buf) * 3 * sizeof(double) * fbuf.size();
  bytes += static_cast<double>(nmax_devi) * sizeof(double);
  bytes += static_cast<double>(nmax_keep) * 3 * sizeof(double);
  for (auto *p : members) bytes += p->memory_usage();
  return bytes;
}
