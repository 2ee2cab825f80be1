#include "providers/session.h"

#include <gtest/gtest.h>

namespace reconcile::providers {
namespace {

struct Counter {
  int value = 0;
};

TEST(SessionTest, StateIsMadeOncePerOwnerAndEndsWithTheSession) {
  Host host;
  const int owner_a = 0, owner_b = 0;
  {
    Session run(host);
    run.state<Counter>(&owner_a).value = 7;
    EXPECT_EQ(run.state<Counter>(&owner_a).value, 7);
    EXPECT_EQ(run.state<Counter>(&owner_b).value, 0);  // another provider's state
    EXPECT_EQ(run.state<Counter>().value, 0);          // state shared by several providers
    EXPECT_EQ(run.size(), 3u);
  }
  Session next(host);
  EXPECT_EQ(next.state<Counter>(&owner_a).value, 0);  // the next run starts from nothing
  EXPECT_EQ(&next.host(), &host);
}

}  // namespace
}  // namespace reconcile::providers
