// A recording fake of data_sync.h's DataSync, installed in pair style committee and
// fix sentry of a LAMMPS without KOKKOS: every sync/modified call a KOKKOS run would
// make is written, one line per call, to <log>.<rank> as
//   <step> <committee|sentry> <sync|modified> <host|device> <mask in hex>
// so that tests/test_kokkos_sync.py can check the sequence.  Members can be declared
// to run on the device (their execution_space and datamasks are public fields of Pair).
//
// usage: test_data_sync <plugin.so> <deck> <log> <record|plain|kokkos-member> <space>,...
//   kokkos-member: member 1 claims to be a KOKKOS style, no DataSync installed
//   deck: the system, committee and "fix watch ... sentry ..."; the run follows it
//   space: host (Pair's defaults) or device:<read mask>:<modify mask>

#include "data_sync.h"
#include "fix_sentry.h"
#include "pair_committee.h"

#include "force.h"
#include "input.h"
#include "lammps.h"
#include "modify.h"
#include "update.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>

using namespace LAMMPS_NS;

namespace {
class Recorder : public DataSync {
 public:
  Recorder(LAMMPS *l, const char *w, FILE *f) : lmp(l), who(w), out(f) {}
  void sync(ExecutionSpace space, DataMask mask) override { write("sync", space, mask); }
  void modified(ExecutionSpace space, DataMask mask) override { write("modified", space, mask); }

 private:
  LAMMPS *lmp;
  const char *who;
  FILE *out;
  void write(const char *what, ExecutionSpace space, DataMask mask)
  {
    fprintf(out, "%lld %s %s %s %llx\n", static_cast<long long>(lmp->update->ntimestep), who,
            what, space == Host ? "host" : "device", static_cast<unsigned long long>(mask));
  }
};
}    // namespace

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  if (argc != 6) {
    fprintf(stderr, "usage: %s plugin deck log record|plain spaces\n", argv[0]);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int me;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  const std::string plugin = argv[1], deck = argv[2], mode = argv[4], spaces = argv[5];
  FILE *log = fopen((std::string(argv[3]) + "." + std::to_string(me)).c_str(), "w");

  const char *lmpargs[] = {"lmp", "-log", "none", "-screen", "none", "-nocite"};
  auto *lmp = new LAMMPS(6, const_cast<char **>(lmpargs), MPI_COMM_WORLD);
  lmp->input->one("plugin load " + plugin);
  lmp->input->file(deck.c_str());

  if (strcmp(lmp->force->pair_style, "committee") != 0) {
    fprintf(stderr, "the deck must define pair_style committee\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  auto *committee = static_cast<PairCommittee *>(lmp->force->pair);
  Fix *fix = lmp->modify->get_fix_by_id("watch");
  if (!fix || strcmp(fix->style, "sentry") != 0) {
    fprintf(stderr, "the deck must define fix watch ... sentry\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  auto *sentry = static_cast<FixSentry *>(fix);

  std::stringstream list(spaces);
  std::string item;
  for (int m = 0; std::getline(list, item, ','); m++) {
    if (m >= committee->nmembers()) break;
    Pair *p = committee->member(m);
    if (item.rfind("device:", 0) == 0) {
      p->execution_space = Device;
      char *end = nullptr;
      p->datamask_read = strtoul(item.c_str() + 7, &end, 16);
      p->datamask_modify = strtoul(end + 1, nullptr, 16);
    }
  }
  // the sentry's masks as LAMMPS's ModifyKokkos would read them: without a DataSync
  // (a plugin built without KOKKOS) LAMMPS must sync everything for it
  fprintf(log, "masks sentry-plain %llx %llx\n", static_cast<unsigned long long>(fix->datamask_read),
          static_cast<unsigned long long>(fix->datamask_modify));

  Recorder pair_rec(lmp, "committee", log), fix_rec(lmp, "sentry", log);
  if (mode == "record") {
    committee->set_data_sync(&pair_rec);
    sentry->set_data_sync(&fix_rec);
    fprintf(log, "masks committee %d %llx %llx\n", committee->execution_space == Device,
            static_cast<unsigned long long>(committee->datamask_read),
            static_cast<unsigned long long>(committee->datamask_modify));
    fprintf(log, "masks sentry %llx %llx\n", static_cast<unsigned long long>(fix->datamask_read),
            static_cast<unsigned long long>(fix->datamask_modify));
  }
  if (mode == "kokkos-member") committee->member(0)->kokkosable = 1;
  try {
    lmp->input->one("run 6");
  } catch (std::exception &e) {
    // error->all: every rank arrives here with the message
    fprintf(stdout, "%s\n", e.what());
    fflush(stdout);
    MPI_Finalize();
    return 3;
  }
  if (mode == "record") {
    committee->set_data_sync(nullptr);
    sentry->set_data_sync(nullptr);
  }
  delete lmp;
  fclose(log);
  MPI_Finalize();
  return 0;
}
