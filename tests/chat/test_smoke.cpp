// Placeholder while the suites are written.
#include <gtest/gtest.h>
#include "chat/template.h"
TEST(ChatSmoke, Renders) {
  pride::chat::Template t("{{ 'a' ~ 1 }}", "t");
  EXPECT_EQ(t.render(nlohmann::ordered_json::object()), "a1");
}
