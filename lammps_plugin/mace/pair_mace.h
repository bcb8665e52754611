/* -*- c++ -*- ----------------------------------------------------------
   mdsentry - pair style mace

   Evaluates the TorchScript model that mace-torch's mace_create_lammps_model
   writes (LAMMPS_MACE: forward(data, local_or_ghost, compute_virials)) on a
   graph built from LAMMPS's neighbor lists.  Two graphs:

   owned  the periodic graph of the owned atoms: a neighbor that is a periodic
          image becomes an edge to its owner with an integer cell shift (one
          MPI rank only).  Nodes = owned atoms; the virial comes from the
          model's strain derivative.
   ghost  domain decomposition: nodes are owned and ghost atoms, edges come
          from full neighbor lists of both, the ghost shell is num_interactions
          x r_max deep so every message reaching an owned atom is exact, the
          energy is that of the owned atoms, and the forces on ghost atoms go
          back to their owners with LAMMPS's reverse communication.

   Lives in its own plugin library (linked against libtorch), so the core
   plugin stays torch-free.
------------------------------------------------------------------------- */

#ifndef MDSENTRY_PAIR_MACE_H
#define MDSENTRY_PAIR_MACE_H

#include "ghost_cutoff.h"
#include "pair.h"

#include <torch/script.h>

#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairMACE : public Pair {
 public:
  PairMACE(class LAMMPS *);
  ~PairMACE() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  void *extract(const char *, int &) override;
  double memory_usage() override;

 protected:
  enum { GRAPH_AUTO, GRAPH_OWNED, GRAPH_GHOST };
  int graph_request;    // keyword graph: auto, owned or ghost
  int graph_ghost;      // graph in use: 1 = ghost (domain decomposition), 0 = owned
  int use_cuda;         // keyword device
  int nthreads;         // torch intra-op threads, 0 = OMP_NUM_THREADS or 1
  int dtype_request;    // keyword dtype: 0 = the model's, else 32 or 64

  std::string model_file;
  torch::jit::Module model;
  int model_loaded;
  int generation, init_generation;    // models read by pair_coeff; the one init_style saw
  torch::Device device;
  torch::Dtype dtype;    // of the model's parameters; positions are given in it
  double r_max;
  int num_interactions;
  std::vector<int> model_z;         // atomic numbers of the model's node_attrs columns
  std::vector<int> type_column;     // LAMMPS type -> node_attrs column, -1 = NULL
  // the ghost graph raises comm_modify cutoff; the user's value comes back when this
  // style goes away (and nobody changed it since)
  GhostCutoff ghost_cutoff;

  // per-step buffers, kept between steps (they only grow)
  std::vector<double> buf_pos, buf_attrs, buf_mask, buf_shift, buf_unit;
  std::vector<int64_t> buf_send, buf_recv, buf_edge;
  std::vector<int> tag_local;    // owned mode: tag -> local index of the owner

  void allocate();
  void load_model(const std::string &);
  void fail_all(const std::string &);
  void build_graph_owned();
  void build_graph_ghost();
};

}    // namespace LAMMPS_NS

#endif
