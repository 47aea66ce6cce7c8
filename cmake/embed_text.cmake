# Writes a C++ source defining `const char* const NAME` (in namespace NS)
# holding the text of the file IN.
file(READ ${IN} text)
set(body "// Generated from ${IN}; do not edit.\nnamespace ${NS} {\nextern const char* const ${NAME};\nconst char* const ${NAME} = R\"granite_text(${text})granite_text\";\n}\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
