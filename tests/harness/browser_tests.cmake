# The browser test of the page `ioduel html` writes: Debian's chromium driven
# by playwright-core (browser/node_modules, installed by scripts/setup from
# its lock file), on the committed quick reference report.
find_program(IODUEL_NODE node)
add_test(NAME browser_page_test
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/browser/run_page_test.sh $<TARGET_FILE:ioduel> ${IODUEL_NODE}
          ${PROJECT_SOURCE_DIR}/results/reference/quick-20261123T064249Z-vm.json
          ${CMAKE_CURRENT_BINARY_DIR}/browser)
set_tests_properties(browser_page_test PROPERTIES LABELS browser TIMEOUT 180)
ioduel_test_needs(no_soak ioduel)
