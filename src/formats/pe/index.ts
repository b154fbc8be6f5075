// PE32+ images: a UKI assembler that appends sections to systemd-stub as
// Talos' native assembler does, and a reader for the section table and a
// section's bytes. Nothing here knows about Talos; the section contents are
// built in src/build/uki/.

export { PeFormatError } from './errors.js';
export { APPENDED_SECTION_FLAGS, PE_OFFSET, assembleUki, planUki, ukiStream, type AssembleOptions, type PeSectionSource, type PlannedSection, type UkiPlan, type UkiSection } from './assemble.js';
export { PeFile, type PeSection } from './reader.js';
export { SCN_CNT_CODE, SCN_CNT_INITIALIZED_DATA, SCN_MEM_READ, parsePeHeaders, type PeHeaders, type SectionHeader } from './headers.js';
