/* ----------------------------------------------------------------------
   mdsentry - fix sentry (see fix_sentry.h, docs/fix_sentry.md)
------------------------------------------------------------------------- */

#include "fix_sentry.h"

#include "data_sync.h"
#include "pair_committee.h"

#include "atom.h"
#include "comm.h"
#include "compute.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "input.h"
#include "modify.h"
#include "timer.h"
#include "update.h"
#include "variable.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;
using namespace FixConst;

static const char *status_name[] = {"trusted", "candidate", "above"};

/* ----------------------------------------------------------------------
   fix ID group sentry N lo hi [source c_ID|c_ID[I]|v_name] [halt yes|no]
       [file name] [frames name] [elements E1 ... Entypes] [append yes|no]
------------------------------------------------------------------------- */

FixSentry::FixSentry(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), source(COMMITTEE), source_index(0), haltflag(1), pair(nullptr),
    compute(nullptr), ivar(-1), ntrusted(0), ncandidate(0), nabove(0), last_trusted_step(-1),
    last_step(-1), last_generation(-1), last_value(0.0), last_atom(0), halted(0), halt_step(-1),
    run_over(1), ended_first(-1), ended_last(-1), ended_nsteps(-1), pending_step(-1),
    pending_generation(-1), logfp(nullptr), framesfp(nullptr), datasync(nullptr)
{
  own_sync.reset(kokkos_data_sync(lmp));
  set_data_sync(own_sync.get());

  if (narg < 6) utils::missing_cmd_args(FLERR, "fix sentry", error);

  nevery = utils::inumeric(FLERR, arg[3], false, lmp);
  if (nevery <= 0) error->all(FLERR, "Fix sentry: N must be a positive integer, got {}", arg[3]);
  lo = utils::numeric(FLERR, arg[4], false, lmp);
  hi = utils::numeric(FLERR, arg[5], false, lmp);
  if (!(lo < hi))
    error->all(FLERR, "Fix sentry: thresholds must satisfy lo < hi, got lo = {} and hi = {}", lo,
               hi);

  int append = 0;
  int iarg = 6;
  while (iarg < narg) {
    const std::string kw = arg[iarg];
    if (kw == "elements") {
      const int ntypes = atom->ntypes;
      if (iarg + 1 + ntypes > narg)
        error->all(FLERR, "Fix sentry: elements needs one symbol per atom type ({} types)", ntypes);
      elements.assign(arg + iarg + 1, arg + iarg + 1 + ntypes);
      iarg += 1 + ntypes;
      continue;
    }
    if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "fix sentry " + kw, error);
    const std::string val = arg[iarg + 1];
    if (kw == "source") {
      if (utils::strmatch(val, "^c_")) {
        source = COMPUTE;
        const auto open = val.find('[');
        if (open == std::string::npos) {
          source_id = val.substr(2);
        } else {
          const auto close = val.find(']', open);
          if (close == std::string::npos || close != val.size() - 1)
            error->all(FLERR, "Fix sentry: malformed source {}", val);
          source_id = val.substr(2, open - 2);
          source_index = utils::inumeric(FLERR, val.substr(open + 1, close - open - 1), false, lmp);
          if (source_index < 1) error->all(FLERR, "Fix sentry: source index must be >= 1");
        }
      } else if (utils::strmatch(val, "^v_")) {
        source = VARIABLE;
        source_id = val.substr(2);
      } else {
        error->all(FLERR, "Fix sentry: source must be c_ID, c_ID[I] or v_name, got {}", val);
      }
    } else if (kw == "halt") {
      haltflag = utils::logical(FLERR, val, false, lmp);
    } else if (kw == "file") {
      log_file = val;
    } else if (kw == "frames") {
      frames_file = val;
    } else if (kw == "append") {
      append = utils::logical(FLERR, val, false, lmp);
    } else {
      error->all(FLERR, "Fix sentry: unknown keyword {}", kw);
    }
    iarg += 2;
  }

  // global values are cumulative, hence valid on any step
  vector_flag = 1;
  size_vector = 9;
  extvector = 0;
  array_flag = 1;
  size_array_cols = 4;
  size_array_rows = 0;
  size_array_rows_variable = 1;
  extarray = 0;
  global_freq = 1;

  if (comm->me == 0) {
    const char *mode = append ? "a" : "w";
    if (!log_file.empty()) {
      logfp = fopen(log_file.c_str(), mode);
      if (!logfp)
        error->one(FLERR, "Fix sentry: cannot open {}: {}", log_file, utils::getsyserror());
      if (!append) {
        fprintf(logfp, "# fix sentry %s: lo = %g hi = %g every %d steps\n", id, lo, hi, nevery);
        fprintf(logfp, "#%11s %18s %9s %10s\n", "step", "value", "status", "atom_id");
      } else {
        // a new instance continuing the log (a restarted walker): its bounds may differ
        fprintf(logfp, "# fix sentry %s appends: lo = %g hi = %g every %d steps\n", id, lo, hi,
                nevery);
      }
      fflush(logfp);
    }
    if (!frames_file.empty()) {
      framesfp = fopen(frames_file.c_str(), mode);
      if (!framesfp)
        error->one(FLERR, "Fix sentry: cannot open {}: {}", frames_file, utils::getsyserror());
    }
  }
}

/* ----------------------------------------------------------------------
   under -k on LAMMPS brings every per-atom array to the host before each of
   this fix's hooks (its datamasks): with a DataSync the fix states what it
   reads itself, on the steps it reads it; without one (a plugin built without
   KOKKOS) LAMMPS's full sync is what keeps its reads current
------------------------------------------------------------------------- */

void FixSentry::set_data_sync(DataSync *s)
{
  datasync = s;
  datamask_read = datamask_modify = datasync ? EMPTY_MASK : ALL_MASK;
}

/* ---------------------------------------------------------------------- */

FixSentry::~FixSentry()
{
  if (logfp) fclose(logfp);
  if (framesfp) fclose(framesfp);
}

/* ----------------------------------------------------------------------
   fix_modify ID thresholds lo hi: new bounds between runs (a driver whose deviation
   thresholds follow each committee's calibration sets them at the hot swap; the
   counts so far stay, they were classified with the bounds of their time)
------------------------------------------------------------------------- */

int FixSentry::modify_param(int narg, char **arg)
{
  if (strcmp(arg[0], "thresholds") != 0) return 0;
  if (narg < 3) utils::missing_cmd_args(FLERR, "fix_modify sentry thresholds", error);
  const double newlo = utils::numeric(FLERR, arg[1], false, lmp);
  const double newhi = utils::numeric(FLERR, arg[2], false, lmp);
  if (!(newlo < newhi))
    error->all(FLERR, "Fix sentry: thresholds must satisfy lo < hi, got lo = {} and hi = {}",
               newlo, newhi);
  lo = newlo;
  hi = newhi;
  if (logfp) {
    fprintf(logfp, "# fix sentry %s: thresholds now lo = %g hi = %g\n", id, lo, hi);
    fflush(logfp);
  }
  return 3;
}

/* ---------------------------------------------------------------------- */

int FixSentry::setmask()
{
  int mask = 0;
  mask |= PRE_FORCE;
  mask |= MIN_PRE_FORCE;
  mask |= END_OF_STEP;
  mask |= MIN_POST_FORCE;
  mask |= POST_RUN;
  return mask;
}

/* ---------------------------------------------------------------------- */

void FixSentry::find_source()
{
  if (source == COMMITTEE) {
    pair = dynamic_cast<PairCommittee *>(force->pair_match("committee", 1, 0));
    if (!pair)
      error->all(FLERR,
                 "Fix sentry {}: the default source is pair style committee, but the pair style "
                 "is {}; use source c_ID[I] or v_name for another deviation",
                 id, force->pair_style ? force->pair_style : "none");
  } else if (source == COMPUTE) {
    compute = modify->get_compute_by_id(source_id);
    if (!compute) error->all(FLERR, "Fix sentry {}: compute {} does not exist", id, source_id);
    if (source_index == 0 && !compute->scalar_flag)
      error->all(FLERR, "Fix sentry {}: compute {} does not compute a global scalar", id,
                 source_id);
    if (source_index > 0 && (!compute->vector_flag || source_index > compute->size_vector))
      error->all(FLERR, "Fix sentry {}: compute {} has no global vector element {}", id,
                 source_id, source_index);
  } else {
    ivar = input->variable->find(source_id.c_str());
    if (ivar < 0) error->all(FLERR, "Fix sentry {}: variable {} does not exist", id, source_id);
    if (!input->variable->equalstyle(ivar))
      error->all(FLERR, "Fix sentry {}: variable {} is not equal-style", id, source_id);
  }
}

void FixSentry::init()
{
  // rRESPA calls pre_force_respa() instead of pre_force(), so the committee would not be
  // asked for its deviation, and its runs cannot use `pre no`; the watch refuses it
  if (update->whichflag == 1 && utils::strmatch(update->integrate_style, "^respa"))
    error->all(FLERR,
               "Fix sentry {} does not support rRESPA (run_style {}): use run_style verlet", id,
               update->integrate_style);
  find_source();
  if (source != COMMITTEE) {
    const bigint next = (update->ntimestep / nevery) * nevery + nevery;
    modify->addstep_compute_all(next);
  }
}

/* ----------------------------------------------------------------------
   ask the committee for a deviation on the steps this fix checks
------------------------------------------------------------------------- */

void FixSentry::request()
{
  if (source == COMMITTEE && pair && update->ntimestep % nevery == 0) pair->request_deviation();
}

/* ----------------------------------------------------------------------
   the halted flag and the halt step describe the current run.  A run with
   its setup starts in setup(); a `run N pre no` calls neither init() nor
   setup(), so the first hook of this fix inside a run after post_run()
   starts it (update->whichflag is set for the whole run command)
------------------------------------------------------------------------- */

void FixSentry::start_run()
{
  run_over = 0;
  halted = 0;
  halt_step = -1;
}

void FixSentry::setup_pre_force(int)
{
  // pair_style may have been re-issued (hot swap) with a run ... pre no
  find_source();
  request();
}

void FixSentry::pre_force(int)
{
  if (run_over) start_run();
  request();
}

void FixSentry::min_pre_force(int)
{
  if (run_over) start_run();
  request();
}

/* ---------------------------------------------------------------------- */

void FixSentry::setup(int)
{
  start_run();

  // a halt found by the setup of a run 0 stopped nothing: it stops this run, before its
  // first step, if the frame and the models are still the ones it was found with
  if (pending_step >= 0) {
    const bigint generation = (source == COMMITTEE) ? pair->model_generation() : 0;
    const bigint step = pending_step;
    pending_step = -1;
    if (step == update->ntimestep && pending_generation == generation)
      halt(step, last_value, last_atom, generation, " (found by the setup of the run 0 before)");
  }

  // other sources are only guaranteed fresh on the steps they were scheduled for
  if (source == COMMITTEE && update->ntimestep % nevery == 0) check();
}

void FixSentry::min_setup(int vflag)
{
  setup(vflag);
}

void FixSentry::end_of_step()
{
  if (run_over) start_run();
  check();
}

void FixSentry::min_post_force(int)
{
  if (run_over) start_run();
  if (update->ntimestep % nevery == 0) check();
}

void FixSentry::post_run()
{
  // a run no hook of this fix saw (run 0 pre no) did not halt either
  if (run_over) start_run();

  // continue semantics: the next run command starts normally
  if (halted) timer->reset_timeout();
  run_over = 1;
  // the commands of `run N every M` follow this call while update->whichflag still says a
  // run is on: compute_vector() starts a new run only once LAMMPS has set one up
  ended_first = update->firststep;
  ended_last = update->laststep;
  ended_nsteps = update->nsteps;

  // the halt of a run 0 is owed to the next run, which stops at once.  A `run N pre no`
  // would take its first step before any hook of this fix; first_update = 0 makes LAMMPS
  // give that run its setup (as for a first run), where setup() stops it
  if (pending_step >= 0) update->first_update = 0;
}

/* ----------------------------------------------------------------------
   the deviation of the current frame, identical on every rank
------------------------------------------------------------------------- */

double FixSentry::evaluate(tagint &atom_id)
{
  const bigint step = update->ntimestep;
  atom_id = 0;

  if (source == COMMITTEE) {
    if (pair->deviation_step() != step)
      error->all(FLERR, "Fix sentry {}: the committee deviation was not computed on step {}", id,
                 step);
    const double *devi = pair->force_deviation_peratom();
    if (datasync) datasync->sync(Host, MASK_MASK | TAG_MASK);
    const int *mask = atom->mask;
    const int nlocal = atom->nlocal;
    double vmax = 0.0;
    int nan = 0;
    for (int i = 0; i < nlocal; i++) {
      if (!(mask[i] & groupbit)) continue;
      if (std::isnan(devi[i])) nan = 1;
      else vmax = std::max(vmax, devi[i]);
    }
    int anynan = 0;
    double value = 0.0;
    MPI_Allreduce(&nan, &anynan, 1, MPI_INT, MPI_MAX, world);
    MPI_Allreduce(&vmax, &value, 1, MPI_DOUBLE, MPI_MAX, world);
    if (anynan) value = NAN;

    // atom with the largest deviation (lowest ID on ties)
    tagint mine = MAXTAGINT;
    for (int i = 0; i < nlocal; i++) {
      if (!(mask[i] & groupbit)) continue;
      if ((anynan && std::isnan(devi[i])) || (!anynan && devi[i] == value))
        mine = std::min(mine, atom->tag[i]);
    }
    MPI_Allreduce(&mine, &atom_id, 1, MPI_LMP_TAGINT, MPI_MIN, world);
    if (atom_id == MAXTAGINT) atom_id = 0;
    return value;
  }

  // a compute or variable may read any per-atom array on the host
  if (datasync) datasync->sync(Host, ALL_MASK);
  double value;
  modify->clearstep_compute();
  if (source == COMPUTE) {
    if (source_index == 0) {
      if (compute->invoked_scalar != step) compute->compute_scalar();
      value = compute->scalar;
    } else {
      if (compute->invoked_vector != step) compute->compute_vector();
      value = compute->vector[source_index - 1];
    }
  } else {
    value = input->variable->compute_equal(ivar);
  }
  modify->addstep_compute(step + nevery);
  return value;
}

/* ----------------------------------------------------------------------
   classify the current frame; decide the halt
------------------------------------------------------------------------- */

void FixSentry::check()
{
  const bigint step = update->ntimestep;
  // a step is checked once per set of models: the setup of a following run
  // sees the same frame again, a hot swap (new generation) makes it a new one
  const bigint generation = (source == COMMITTEE) ? pair->model_generation() : 0;
  if (step == last_step && generation == last_generation) return;
  last_generation = generation;

  tagint atom_id = 0;
  const double value = evaluate(atom_id);
  last_step = step;
  last_value = value;
  last_atom = atom_id;

  int status = TRUSTED;
  if (std::isnan(value) || value >= hi)
    status = ABOVE;
  else if (value >= lo)
    status = CANDIDATE;

  if (status == TRUSTED) {
    ntrusted++;
    last_trusted_step = step;
  } else {
    if (status == CANDIDATE) ncandidate++;
    else nabove++;
    records.push_back({static_cast<double>(step), value, static_cast<double>(atom_id),
                       static_cast<double>(status)});
    size_array_rows = static_cast<int>(records.size());
  }

  if (logfp) {
    fprintf(logfp, "%12lld %18.6e %9s %10lld\n", static_cast<long long>(step), value,
            status_name[status], static_cast<long long>(atom_id));
    fflush(logfp);
  }
  if (status != TRUSTED && !frames_file.empty()) write_frame(step, value, status);

  if (status == ABOVE && haltflag) halt(step, value, atom_id, generation, "");
}

/* ----------------------------------------------------------------------
   stop the current run at this step on every rank, as fix halt does
------------------------------------------------------------------------- */

void FixSentry::halt(bigint step, double value, tagint atom_id, bigint generation,
                     const char *note)
{
  halted = 1;
  halt_step = step;
  if (comm->me == 0)
    utils::logmesg(lmp,
                   "fix sentry {}: deviation {:.6g} >= hi = {:.6g} at step {} (atom {}){}; "
                   "run halted\n",
                   id, value, hi, step, atom_id, note);
  timer->force_timeout();

  // a run 0 (setup only, e.g. after a hot swap) has no step to stop: the halt is owed to
  // the next run that starts at this frame with these models
  if (update->whichflag == 1 && update->firststep == update->laststep) {
    pending_step = step;
    pending_generation = generation;
  }
}

/* ----------------------------------------------------------------------
   append the current frame as extended XYZ (ASE reads it): the whole cell,
   all atoms sorted by ID, per-atom deviation when the source is a committee
------------------------------------------------------------------------- */

void FixSentry::write_frame(bigint step, double value, int status)
{
  const int nlocal = atom->nlocal;
  const double *devi = (source == COMMITTEE) ? pair->force_deviation_peratom() : nullptr;
  constexpr int NV = 6;
  if (datasync) datasync->sync(Host, TAG_MASK | TYPE_MASK | X_MASK);

  std::vector<double> send(static_cast<size_t>(NV) * nlocal);
  for (int i = 0; i < nlocal; i++) {
    double *s = &send[static_cast<size_t>(NV) * i];
    s[0] = atom->tag[i];
    s[1] = atom->type[i];
    for (int d = 0; d < 3; d++) s[2 + d] = atom->x[i][d] - domain->boxlo[d];
    s[5] = devi ? devi[i] : 0.0;
  }

  const int nprocs = comm->nprocs;
  int nsend = NV * nlocal;
  std::vector<int> counts(nprocs), displs(nprocs);
  MPI_Gather(&nsend, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, world);
  std::vector<double> recv;
  if (comm->me == 0) {
    int total = 0;
    for (int p = 0; p < nprocs; p++) {
      displs[p] = total;
      total += counts[p];
    }
    recv.resize(total);
  }
  MPI_Gatherv(send.data(), nsend, MPI_DOUBLE, recv.data(), counts.data(), displs.data(),
              MPI_DOUBLE, 0, world);
  if (comm->me != 0 || !framesfp) return;

  const size_t natoms = recv.size() / NV;
  std::vector<size_t> order(natoms);
  for (size_t i = 0; i < natoms; i++) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return recv[NV * a] < recv[NV * b]; });

  const double *h = domain->h;    // xx yy zz yz xz xy
  const int *pbc = domain->periodicity;
  fprintf(framesfp, "%zu\n", natoms);
  fprintf(framesfp,
          "Lattice=\"%.17g 0 0 %.17g %.17g 0 %.17g %.17g %.17g\" "
          "Properties=species:S:1:pos:R:3:id:I:1:type:I:1:devi:R:1 "
          "step=%lld max_devi=%.17g status=%s lo=%.17g hi=%.17g fix=%s pbc=\"%c %c %c\"\n",
          h[0], h[5], h[1], h[4], h[3], h[2], static_cast<long long>(step), value,
          status_name[status], lo, hi, id, pbc[0] ? 'T' : 'F', pbc[1] ? 'T' : 'F',
          pbc[2] ? 'T' : 'F');
  for (size_t k : order) {
    const double *r = &recv[NV * k];
    const int type = static_cast<int>(r[1]);
    const char *sym = elements.empty() ? "X" : elements[type - 1].c_str();
    fprintf(framesfp, "%s %.17g %.17g %.17g %lld %d %.17g\n", sym, r[2], r[3], r[4],
            static_cast<long long>(r[0]), type, r[5]);
  }
  fflush(framesfp);
}

/* ----------------------------------------------------------------------
   whether LAMMPS has set up another run since post_run(): the run command
   sets firststep, laststep and nsteps for every run (each chunk of
   `run N every M` too), and a run that halted took fewer steps than it was
   given (nsteps says how many), so one of the three differs even when the
   new run starts where a run halted before its first step
------------------------------------------------------------------------- */

bool FixSentry::new_run_started() const
{
  return update->whichflag &&
      (update->firststep != ended_first || update->laststep != ended_last ||
       update->nsteps != ended_nsteps);
}

double FixSentry::compute_vector(int i)
{
  // e.g. thermo output at the start of a `run N pre no`, before any other hook; not the
  // commands of `run N every M`, which see the run that just ended
  if (run_over && new_run_started()) start_run();
  switch (i) {
    case 0:
      return last_value;
    case 1:
      return static_cast<double>(ntrusted);
    case 2:
      return static_cast<double>(ncandidate);
    case 3:
      return halted;
    case 4:
      return static_cast<double>(last_trusted_step);
    case 5:
      return static_cast<double>(nabove);
    case 6:
      return static_cast<double>(halt_step);
    case 7:
      return static_cast<double>(last_atom);
    case 8:
      return static_cast<double>(last_step);
    default:
      return 0.0;
  }
}

double FixSentry::compute_array(int i, int j)
{
  if (i < 0 || i >= static_cast<int>(records.size()) || j < 0 || j > 3) return 0.0;
  return records[i][j];
}
