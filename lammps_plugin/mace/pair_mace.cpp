/* ----------------------------------------------------------------------
   mdsentry - pair style mace (see pair_mace.h and docs/pair_mace.rst)

   The model's input dictionary (mace-torch's LAMMPS_MACE and the graph it
   passes to ScaleShiftMACE):
     positions [n,3], node_attrs [n,n_elements] (one-hot), edge_index [2,e]
     (row 0 sender, row 1 receiver), shifts [e,3] and unit_shifts [e,3]
     (edge vector = positions[receiver] - positions[sender] + shifts, shifts =
     unit_shifts . cell), cell [3,3], batch [n] and ptr [2] (one graph);
   local_or_ghost [n] weights each node's energy, compute_virials asks for the
   strain derivative.  Outputs: total_energy_local [1], node_energy [n],
   forces [n,3] (-dE_local/dpositions), virials [1,3,3] (-dE/dstrain).
------------------------------------------------------------------------- */

#include "pair_mace.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "platform.h"
#include "update.h"
#include "utils.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

using namespace LAMMPS_NS;

namespace {

// element symbols by atomic number (index 0 unused)
const char *const ELEMENTS =
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge "
    "As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm "
    "Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U "
    "Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og";

int atomic_number(const std::string &symbol)
{
  std::istringstream in(ELEMENTS);
  std::string s;
  for (int z = 0; in >> s; z++)
    if (z > 0 && s == symbol) return z;
  return 0;
}

std::string element_symbol(int z)
{
  std::istringstream in(ELEMENTS);
  std::string s;
  for (int k = 0; in >> s; k++)
    if (k == z) return s;
  return "Z=" + std::to_string(z);
}

// torch's messages start with blank lines and end with a C++ stack trace
std::string first_line(const std::string &what)
{
  std::istringstream in(what);
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
  return "no message";
}

const char *dtype_name(torch::Dtype t)
{
  return t == torch::kFloat64 ? "float64" : (t == torch::kFloat32 ? "float32" : "other");
}

}    // namespace

/* ---------------------------------------------------------------------- */

PairMACE::PairMACE(LAMMPS *lmp) :
    Pair(lmp), graph_request(GRAPH_AUTO), graph_ghost(0), use_cuda(0), nthreads(0),
    dtype_request(0), model_loaded(0), generation(0), init_generation(-1), device(torch::kCPU),
    dtype(torch::kFloat64), r_max(0.0), num_interactions(0)
{
  single_enable = 0;         // a message-passing energy has no pair terms
  restartinfo = 0;           // the model file is re-read from the input's pair_coeff
  one_coeff = 1;             // pair_coeff * * model El1 El2 ...
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;    // the virial is computed from this style's own forces
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairMACE::~PairMACE()
{
  ghost_cutoff.restore(comm);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

/* ---------------------------------------------------------------------- */

void PairMACE::allocate()
{
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  memory->create(cutghost, n + 1, n + 1, "pair:cutghost");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
}

/* ----------------------------------------------------------------------
   a collective error from per-rank failures: the lowest failing rank's
   message reaches every rank, which all stop with it (no rank waits for
   one that already left)
------------------------------------------------------------------------- */

void PairMACE::fail_all(const std::string &mine)
{
  int bad = mine.empty() ? comm->nprocs : comm->me, first = 0;
  MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, world);
  if (first == comm->nprocs) return;
  int len = (comm->me == first) ? static_cast<int>(mine.size()) : 0;
  MPI_Bcast(&len, 1, MPI_INT, first, world);
  std::string msg = (comm->me == first) ? mine : std::string(len, ' ');
  MPI_Bcast(&msg[0], len, MPI_CHAR, first, world);
  if (first != 0) msg += fmt::format(" (on MPI rank {})", first);
  error->all(FLERR, msg);
}

/* ----------------------------------------------------------------------
   pair_style mace [device cpu|cuda] [graph auto|owned|ghost] [threads N]
                   [dtype auto|float32|float64]
------------------------------------------------------------------------- */

void PairMACE::settings(int narg, char **arg)
{
  graph_request = GRAPH_AUTO;
  use_cuda = 0;
  nthreads = 0;
  dtype_request = 0;

  int iarg = 0;
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (iarg + 2 > narg) error->all(FLERR, "Illegal pair_style mace command: {} needs a value", key);
    const std::string val = arg[iarg + 1];
    if (key == "device") {
      if (val == "cpu")
        use_cuda = 0;
      else if (val == "cuda")
        use_cuda = 1;
      else
        error->all(FLERR, "pair_style mace device must be cpu or cuda, not {}", val);
    } else if (key == "graph") {
      if (val == "auto")
        graph_request = GRAPH_AUTO;
      else if (val == "owned")
        graph_request = GRAPH_OWNED;
      else if (val == "ghost")
        graph_request = GRAPH_GHOST;
      else
        error->all(FLERR, "pair_style mace graph must be auto, owned or ghost, not {}", val);
    } else if (key == "threads") {
      nthreads = utils::inumeric(FLERR, val, false, lmp);
      if (nthreads < 1) error->all(FLERR, "pair_style mace threads must be >= 1");
    } else if (key == "dtype") {
      if (val == "auto")
        dtype_request = 0;
      else if (val == "float32")
        dtype_request = 32;
      else if (val == "float64")
        dtype_request = 64;
      else
        error->all(FLERR, "pair_style mace dtype must be auto, float32 or float64, not {}", val);
    } else {
      error->all(FLERR, "Unknown pair_style mace keyword: {}", key);
    }
    iarg += 2;
  }

  if (graph_request == GRAPH_OWNED && comm->nprocs > 1)
    error->all(FLERR,
               "pair_style mace graph owned builds the periodic graph of one rank's atoms: "
               "use graph ghost (or auto) on {} MPI ranks",
               comm->nprocs);
  // the owned graph on one rank: far fewer nodes than owned + a num_interactions x r_max
  // ghost shell; domain decomposition needs the ghost graph
  graph_ghost = (graph_request == GRAPH_GHOST) || (graph_request == GRAPH_AUTO && comm->nprocs > 1);
  ghostneigh = graph_ghost;
  device = torch::Device(torch::kCPU);
  if (use_cuda) {
    // one GPU per node-local rank, round robin (ranks of a node share its GPUs)
    MPI_Comm node;
    int local = 0;
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, comm->me, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    const int ngpu = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    if (ngpu > 0) device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local % ngpu));
  }
  model_loaded = 0;    // a new device or dtype request: pair_coeff loads the model again
}

/* ----------------------------------------------------------------------
   read the TorchScript export; every rank reads it, failures are collective
------------------------------------------------------------------------- */

void PairMACE::load_model(const std::string &file)
{
  // nothing of a model that fails a check is kept: the style has its old model or none
  model_loaded = 0;
  std::string err;
  if (use_cuda && !torch::cuda::is_available())
    err = "pair_style mace device cuda: this torch sees no CUDA device";
  else if (!platform::file_is_readable(file))
    err = fmt::format("pair_style mace: cannot read model file {}", file);
  fail_all(err);

  torch::jit::Module candidate;
  torch::Dtype kind = torch::kFloat64;
  double rcut = 0.0;
  int layers = 0;
  std::vector<int> zs;
  try {
    candidate = torch::jit::load(file, device);
  } catch (const std::exception &e) {
    err = fmt::format("pair_style mace: {} is not a TorchScript model ({})", file,
                      first_line(e.what()));
    if (utils::strmatch(file, "\\.model$") ||
        std::string(e.what()).find("constants.pkl") != std::string::npos)
      err += fmt::format(". A mace-torch .model is a pickled Python module: export it with "
                         "`mace_create_lammps_model {} --head <head>` and give the "
                         "{}-lammps.pt it writes",
                         file, file);
  }
  if (err.empty() &&
      !(candidate.hasattr("r_max") && candidate.hasattr("atomic_numbers") &&
        candidate.hasattr("num_interactions") && candidate.find_method("forward")))
    err = fmt::format("pair_style mace: {} is a TorchScript model but not mace-torch's LAMMPS "
                      "export (no r_max, atomic_numbers, num_interactions): make it with "
                      "mace_create_lammps_model",
                      file);
  fail_all(err);

  try {
    // one floating dtype for all parameters and buffers; the graph is given in it
    std::set<int> kinds;
    for (const auto &p : candidate.parameters())
      if (p.is_floating_point()) kinds.insert(static_cast<int>(p.scalar_type()));
    for (const auto &b : candidate.buffers())
      if (b.is_floating_point()) kinds.insert(static_cast<int>(b.scalar_type()));
    if (kinds.size() != 1) {
      err = fmt::format("pair_style mace: {} mixes floating-point types in its parameters; "
                        "export it again with mace_create_lammps_model --dtype float64 (or "
                        "float32)",
                        file);
    } else {
      kind = static_cast<torch::Dtype>(*kinds.begin());
      if (kind != torch::kFloat64 && kind != torch::kFloat32)
        err = fmt::format("pair_style mace: {} has parameters of type {}; only float64 and "
                          "float32 models are supported",
                          file, dtype_name(kind));
      const torch::Dtype want = dtype_request == 64 ? torch::kFloat64 : torch::kFloat32;
      if (err.empty() && dtype_request && kind != want)
        err = fmt::format("pair_style mace dtype {} but {} is a {} model: export it with "
                          "mace_create_lammps_model --dtype {} or change the keyword",
                          dtype_name(want), file, dtype_name(kind), dtype_name(want));
    }
    if (err.empty()) {
      rcut = candidate.attr("r_max").toTensor().to(torch::kCPU, torch::kFloat64).item<double>();
      layers = static_cast<int>(
          candidate.attr("num_interactions").toTensor().to(torch::kCPU).item<int64_t>());
      auto z = candidate.attr("atomic_numbers").toTensor().to(torch::kCPU, torch::kInt64);
      z = z.contiguous();
      zs.assign(z.data_ptr<int64_t>(), z.data_ptr<int64_t>() + z.numel());
      if (!(rcut > 0.0) || layers < 1 || zs.empty())
        err = fmt::format("pair_style mace: {} has r_max {}, {} interactions, {} elements",
                          file, rcut, layers, zs.size());
    }
  } catch (const std::exception &e) {
    err = fmt::format("pair_style mace: cannot read the model's settings from {} ({})", file,
                      first_line(e.what()));
  }
  fail_all(err);

  candidate.eval();
  model = candidate;
  dtype = kind;
  r_max = rcut;
  num_interactions = layers;
  model_z = zs;
  model_file = file;
  model_loaded = 1;
  generation++;
  if (comm->me == 0) {
    utils::logmesg(lmp, "pair_style mace: {} ({}, r_max {} A, {} interactions, elements", file,
                   dtype_name(dtype), r_max, num_interactions);
    for (int zz : model_z) utils::logmesg(lmp, " {}", element_symbol(zz));
    utils::logmesg(lmp, ")\n");
  }
}

/* ----------------------------------------------------------------------
   pair_coeff * * model-lammps.pt El1 El2 ... (one per atom type, NULL allowed)
------------------------------------------------------------------------- */

void PairMACE::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff for pair_style mace needs * * model-lammps.pt and one element "
               "per atom type ({} types): got {} arguments",
               ntypes, narg);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for pair_style mace must start with * *");

  // always read: an active-learning loop may have retrained the model under the same name
  load_model(arg[2]);

  type_column.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    const std::string el = arg[2 + t];
    if (el == "NULL") continue;
    const int z = atomic_number(el);
    if (!z) error->all(FLERR, "pair_coeff for pair_style mace: {} is not an element symbol", el);
    int col = -1;
    for (size_t k = 0; k < model_z.size(); k++)
      if (model_z[k] == z) col = static_cast<int>(k);
    if (col < 0) {
      std::string known;
      for (int zz : model_z) known += " " + element_symbol(zz);
      error->all(FLERR, "pair_style mace: element {} (type {}) is not in model {} (elements:{})",
                 el, t, model_file, known);
    }
    type_column[t] = col;
  }

  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++)
      setflag[i][j] = (type_column[i] >= 0 && type_column[j] >= 0) ? 1 : 0;
}

/* ---------------------------------------------------------------------- */

void PairMACE::init_style()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style mace needs units metal (MACE models are in eV and Angstrom)");
  if (force->newton_pair == 0) error->all(FLERR, "pair_style mace needs newton pair on");
  if (atom->tag_enable == 0) error->all(FLERR, "pair_style mace needs atom IDs");
  if (!model_loaded) error->all(FLERR, "pair_style mace: no model (pair_coeff * * file ...)");
  init_generation = generation;

  // torch's own thread pool: the keyword, else OMP_NUM_THREADS, else one thread
  int n = nthreads;
  if (n < 1) {
    const char *env = std::getenv("OMP_NUM_THREADS");
    n = env ? std::atoi(env) : 1;
    if (n < 1) n = 1;
  }
  at::set_num_threads(n);

  int flags = NeighConst::REQ_FULL;
  if (graph_ghost) flags |= NeighConst::REQ_GHOST;
  neighbor->add_request(this, flags);

  if (graph_ghost) {
    if (comm->mode != Comm::SINGLE)
      error->all(FLERR, "pair_style mace graph ghost needs comm_modify mode single");
    // every atom whose features reach an owned atom within num_interactions layers,
    // plus the skin the atoms may move before the next rebuild
    const double need = num_interactions * r_max + neighbor->skin;
    if (ghost_cutoff.raise(comm, need)) {
      if (comm->me == 0)
        utils::logmesg(lmp,
                       "pair_style mace: ghost cutoff set to {:.4g} A (comm_modify cutoff; "
                       "{} interactions x r_max {} + skin)\n",
                       need, num_interactions, r_max);
    }
  }
  if (comm->me == 0)
    utils::logmesg(lmp, "pair_style mace: {} graph, {} torch thread(s), device {}\n",
                   graph_ghost ? "ghost (domain decomposition)" : "owned (periodic)", n,
                   device.str());
}

/* ---------------------------------------------------------------------- */

double PairMACE::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  cutghost[i][j] = cutghost[j][i] = r_max;
  return r_max;
}

/* ----------------------------------------------------------------------
   owned graph: nodes are the owned atoms; an image neighbor j becomes an edge
   from its owner o with integer cell shift n, x_j = x_o + n . cell, and the
   edge vector x_i - x_j = x_i - x_o + shift, i.e. unit shift -n
------------------------------------------------------------------------- */

void PairMACE::build_graph_owned()
{
  const int nlocal = atom->nlocal;
  double **x = atom->x;
  const tagint *tag = atom->tag;
  const double *h = domain->h, *hi = domain->h_inv;
  const double cut2 = r_max * r_max;

  tagint maxtag = 0;
  for (int i = 0; i < nlocal; i++) maxtag = MAX(maxtag, tag[i]);
  tag_local.assign(maxtag + 1, -1);
  for (int i = 0; i < nlocal; i++) tag_local[tag[i]] = i;

  buf_send.clear();
  buf_recv.clear();
  buf_unit.clear();
  buf_shift.clear();
  const int inum = list->inum;
  const int *ilist = list->ilist, *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  for (int ii = 0; ii < inum; ii++) {
    const int i = ilist[ii];
    const int *jlist = firstneigh[i];
    for (int jj = 0; jj < numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
      if (dx * dx + dy * dy + dz * dz >= cut2) continue;
      int o = j;
      double na = 0.0, nb = 0.0, nc = 0.0;
      if (j >= nlocal) {
        o = (tag[j] <= maxtag) ? tag_local[tag[j]] : -1;
        if (o < 0) error->one(FLERR, "pair_style mace: no owned atom for ghost atom {}", tag[j]);
        const double ex = x[j][0] - x[o][0], ey = x[j][1] - x[o][1], ez = x[j][2] - x[o][2];
        na = std::nearbyint(hi[0] * ex + hi[5] * ey + hi[4] * ez);
        nb = std::nearbyint(hi[1] * ey + hi[3] * ez);
        nc = std::nearbyint(hi[2] * ez);
      }
      buf_send.push_back(o);
      buf_recv.push_back(i);
      const double ua = -na, ub = -nb, uc = -nc;
      buf_unit.insert(buf_unit.end(), {ua, ub, uc});
      // rows of the cell: a = (xprd,0,0), b = (xy,yprd,0), c = (xz,yz,zprd)
      buf_shift.insert(buf_shift.end(),
                       {ua * h[0] + ub * h[5] + uc * h[4], ub * h[1] + uc * h[3], uc * h[2]});
    }
  }
}

/* ----------------------------------------------------------------------
   ghost graph: nodes are owned and ghost atoms, edges from the full lists of
   both (REQ_GHOST), no shifts
------------------------------------------------------------------------- */

void PairMACE::build_graph_ghost()
{
  double **x = atom->x;
  const double cut2 = r_max * r_max;
  buf_send.clear();
  buf_recv.clear();
  const int inum = list->inum, nlist = list->inum + list->gnum;
  const int *ilist = list->ilist, *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;

  // A ghost needs correct features of layer k >= 1 only within (L - k) r_max of an owned
  // atom, so only ghosts within (L - 1) r_max receive messages; farther ones are senders
  // only (their first-layer input is their element).  Owned atoms may have left the
  // subdomain by up to skin/2 since the last rebuild: the margin is one skin.  The test is
  // conservative: the largest distance outside one pair of the subdomain's faces.
  const double keep = (num_interactions - 1) * r_max + neighbor->skin;
  const int tri = domain->triclinic;
  const double *lo = tri ? domain->sublo_lamda : domain->sublo;
  const double *hi = tri ? domain->subhi_lamda : domain->subhi;
  const double *hv = domain->h_inv;
  // distance per unit of lamda across each pair of faces (1 for an orthogonal box)
  const double per[3] = {tri ? 1.0 / std::sqrt(hv[0] * hv[0] + hv[5] * hv[5] + hv[4] * hv[4]) : 1.0,
                         tri ? 1.0 / std::sqrt(hv[1] * hv[1] + hv[3] * hv[3]) : 1.0,
                         tri ? 1.0 / hv[2] : 1.0};
  auto receives = [&](int i) {
    double c[3] = {x[i][0], x[i][1], x[i][2]};
    if (tri) domain->x2lamda(x[i], c);
    for (int d = 0; d < 3; d++) {
      const double out = MAX(lo[d] - c[d], c[d] - hi[d]) * per[d];
      if (out > keep) return false;
    }
    return true;
  };

  for (int ii = 0; ii < nlist; ii++) {
    const int i = ilist[ii];
    if (ii >= inum && !receives(i)) continue;
    const int *jlist = firstneigh[i];
    for (int jj = 0; jj < numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
      if (dx * dx + dy * dy + dz * dz >= cut2) continue;
      buf_send.push_back(j);
      buf_recv.push_back(i);
    }
  }
  buf_unit.assign(3 * buf_send.size(), 0.0);
  buf_shift.assign(3 * buf_send.size(), 0.0);
}

/* ---------------------------------------------------------------------- */

void PairMACE::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  // the neighbor lists and the ghost shell were sized for the model init_style saw
  if (generation != init_generation)
    error->all(FLERR, "pair_style mace: pair_coeff read a new model after the last setup: "
                      "run with pre yes (the neighbor lists are sized for the old one)");
  if (vflag_atom)
    error->all(FLERR,
               "pair_style mace has no per-atom virial (compute stress/atom, "
               "centroid/stress/atom): a message-passing model's energy does not split "
               "into pair terms");

  const int nlocal = atom->nlocal;
  if (nlocal == 0) return;    // no owned energy here: nothing to add, not even on ghosts
  const int nnodes = graph_ghost ? nlocal + atom->nghost : nlocal;
  if (graph_ghost)
    build_graph_ghost();
  else
    build_graph_owned();
  const int64_t nedges = static_cast<int64_t>(buf_send.size());
  const int nel = static_cast<int>(model_z.size());

  double **x = atom->x;
  const int *type = atom->type;
  buf_pos.resize(3 * (size_t) nnodes);
  buf_attrs.assign((size_t) nnodes * nel, 0.0);
  buf_mask.resize(nnodes);
  for (int i = 0; i < nnodes; i++) {
    buf_pos[3 * i] = x[i][0];
    buf_pos[3 * i + 1] = x[i][1];
    buf_pos[3 * i + 2] = x[i][2];
    const int col = type_column[type[i]];
    if (col >= 0) buf_attrs[(size_t) i * nel + col] = 1.0;
    // atoms of NULL types (hybrid) are in no edge of this style's lists; weight 0
    buf_mask[i] = (i < nlocal && col >= 0) ? 1.0 : 0.0;
  }
  buf_edge.resize(2 * nedges);
  std::copy(buf_send.begin(), buf_send.end(), buf_edge.begin());
  std::copy(buf_recv.begin(), buf_recv.end(), buf_edge.begin() + nedges);

  const double *h = domain->h;
  double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  int64_t ptr[2] = {0, nnodes};

  const bool want_virial = !graph_ghost && (vflag_global || vflag_fdotr);
  double energy = 0.0, model_virial[9] = {0.0};
  torch::Tensor forces, node_energy;
  try {
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
    const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
    // from_blob wraps the buffers; .to() copies only for a float32 model or a GPU
    auto as_model = [&](double *p, std::vector<int64_t> shape) {
      return torch::from_blob(p, shape, f64).to(device, dtype);
    };
    c10::Dict<std::string, torch::Tensor> data;
    data.insert("positions", as_model(buf_pos.data(), {nnodes, 3}));
    data.insert("node_attrs", as_model(buf_attrs.data(), {nnodes, nel}));
    data.insert("edge_index", torch::from_blob(buf_edge.data(), {2, nedges}, i64).to(device));
    data.insert("shifts", as_model(buf_shift.data(), {nedges, 3}));
    data.insert("unit_shifts", as_model(buf_unit.data(), {nedges, 3}));
    data.insert("cell", as_model(cell, {3, 3}));
    data.insert("batch", torch::zeros({nnodes}, i64.device(device)));
    data.insert("ptr", torch::from_blob(ptr, {2}, i64).to(device));
    torch::Tensor mask = as_model(buf_mask.data(), {nnodes});

    std::vector<torch::jit::IValue> inputs{data, mask, want_virial};
    auto out = model.forward(inputs).toGenericDict();
    energy = out.at("total_energy_local").toTensor().to(torch::kCPU, torch::kFloat64).item<double>();
    forces = out.at("forces").toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    if (eflag_atom)
      node_energy = out.at("node_energy").toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    if (want_virial) {
      auto v = out.at("virials").toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
      std::memcpy(model_virial, v.data_ptr<double>(), 9 * sizeof(double));
    }
  } catch (const std::exception &e) {
    error->one(FLERR, "pair_style mace: the model failed on {} atoms, {} edges: {}", nnodes,
               nedges, first_line(e.what()));
  }

  // forces on every node: with the ghost graph, Verlet's reverse communication
  // returns the ghost atoms' share to their owners (newton pair on)
  double **f = atom->f;
  const double *fm = forces.data_ptr<double>();
  for (int i = 0; i < nnodes; i++) {
    f[i][0] += fm[3 * i];
    f[i][1] += fm[3 * i + 1];
    f[i][2] += fm[3 * i + 2];
  }

  if (eflag_global) eng_vdwl += energy;
  if (eflag_atom) {
    const double *ne = node_energy.data_ptr<double>();
    for (int i = 0; i < nlocal; i++)
      if (buf_mask[i] != 0.0) eatom[i] += ne[i];
  }

  if (vflag_global || vflag_fdotr) {
    if (graph_ghost) {
      // sum over owned and ghost nodes of r (x) F of this style's forces: the
      // F dot r virial LAMMPS would compute, but not from atom->f, which may hold
      // other styles' forces under pair hybrid
      double v[6] = {0.0};
      for (int i = 0; i < nnodes; i++) {
        const double *r = &buf_pos[3 * i], *fi = &fm[3 * i];
        v[0] += r[0] * fi[0];
        v[1] += r[1] * fi[1];
        v[2] += r[2] * fi[2];
        v[3] += r[0] * fi[1];
        v[4] += r[0] * fi[2];
        v[5] += r[1] * fi[2];
      }
      for (int k = 0; k < 6; k++) virial[k] += v[k];
    } else {
      virial[0] += model_virial[0];
      virial[1] += model_virial[4];
      virial[2] += model_virial[8];
      virial[3] += model_virial[1];
      virial[4] += model_virial[2];
      virial[5] += model_virial[5];
    }
  }
}

/* ---------------------------------------------------------------------- */

void *PairMACE::extract(const char *name, int &dim)
{
  dim = 0;
  if (strcmp(name, "r_max") == 0) return (void *) &r_max;
  return nullptr;
}

double PairMACE::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += sizeof(double) *
      (buf_pos.capacity() + buf_attrs.capacity() + buf_mask.capacity() + buf_shift.capacity() +
       buf_unit.capacity());
  bytes += sizeof(int64_t) * (buf_send.capacity() + buf_recv.capacity() + buf_edge.capacity());
  bytes += sizeof(int) * tag_local.capacity();
  return bytes;
}
